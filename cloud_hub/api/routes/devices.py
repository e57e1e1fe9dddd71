"""`/devices`: the registry, service records, health and per-device telemetry."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import ScalarResult, select
from sqlalchemy.orm import Session

from cloud_hub.api.deps import (
    AdminDep,
    CurrentPrincipal,
    DbDep,
    ReaderDep,
    RegistryDep,
    SettingsDep,
    WriterDep,
    check_device_access,
)
from cloud_hub.core import security
from cloud_hub.core.clock import utcnow
from cloud_hub.core.config import Settings
from cloud_hub.crud import devices as crud
from cloud_hub.crud import peers as crud_peers
from cloud_hub.crud import twin as crud_twin
from cloud_hub.db import tables as t
from cloud_hub.integrations import dynsec, homeassistant
from cloud_hub.registry.service import Registry
from cloud_hub.schemas.common import MAX_ROW_ID, Page, error_responses
from cloud_hub.schemas.devices import (
    DeviceCreate,
    DeviceCredentials,
    DeviceHealthPublic,
    DevicePublic,
    DeviceUpdate,
    HealthRollupPublic,
    HealthSamplePublic,
    ServiceRecord,
    State,
    StateChangePublic,
)
from cloud_hub.schemas.telemetry import DeviceErrorPublic, EventPublic, ResultPublic
from cloud_hub.schemas.twin import TwinPublic
from contract.enrollment import MqttAccess
from contract.http import DEVICES
from contract.ids import DeviceId

router = APIRouter(prefix=DEVICES, tags=["devices"])
DeviceIdPath = DeviceId
Limit = Annotated[int, Query(ge=1, le=1000)]


def credentials(
    settings: Settings, device: t.Device, secret: str, registry: Registry
) -> DeviceCredentials:
    return DeviceCredentials(
        device_id=device.id,
        device_secret=secret,
        hub_url=settings.public_url,
        signing_key=registry.key.public_key_b64,
        mqtt=MqttAccess(
            host=settings.mqtt_public_host or settings.mqtt_host,
            port=settings.mqtt_port,
            username=device.id,
            topic_prefix=settings.topic_prefix,
        ),
        device=crud.to_public(device),
    )


@router.get("", response_model=Page[DevicePublic])
def list_devices(
    db: DbDep,
    _: ReaderDep,
    state: State | None = None,
    site: str | None = None,
    tag: Annotated[list[str] | None, Query(description="all must match")] = None,
    capability: str | None = None,
    service_id: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[DevicePublic]:
    with db.session(write=False) as s:
        rows, total, nxt = crud.list_devices(
            s,
            limit=limit,
            cursor=cursor,
            state=state,
            site=site,
            tags=tag or (),
            capability=capability,
            service_id=service_id,
            q=q,
        )
        return Page(items=[crud.to_public(d) for d in rows], total=total, next_cursor=nxt)


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(409))
def create_device(
    data: DeviceCreate,
    db: DbDep,
    settings: SettingsDep,
    writer: WriterDep,
    registry: RegistryDep,
    _: AdminDep,
) -> DeviceCredentials:
    """Register a device directly (no token); returns its secret once."""
    secret = security.new_secret(security.DEVICE_SECRET_PREFIX)
    with db.session(write=True) as s:
        device = crud.create_device(s, data=data, secret_hash=security.digest(secret), now=utcnow())
        out = credentials(settings, device, secret, registry)
        dynsec.device_created(settings, device.id, secret)  # broker account (mqtt_dynsec)
        dynsec.peers_changed(settings, s, device_id=device.id, sites=[device.site], gateway=False)
    if writer:
        writer.known(device.id)
    return out


def _peer_place(device: t.Device) -> tuple[str | None, bool]:
    """What a device's peer rights hang on: its site, and whether it is a site gateway."""
    return device.site, crud_peers.is_gateway(device)


def _peer_place_moved(
    settings: Settings, s: Session, device: t.Device, before: tuple[str | None, bool]
) -> None:
    """Set the broker rights again if the device's site or gateway role moved (mqtt_dynsec)."""
    after = _peer_place(device)
    if after != before:
        sites = (before[0], after[0])
        gateway = before[1] or after[1]
        dynsec.peers_changed(settings, s, device_id=device.id, sites=sites, gateway=gateway)


@router.get("/{device_id}")
def get_device(device_id: DeviceIdPath, db: DbDep, who: CurrentPrincipal) -> DevicePublic:
    check_device_access(who, device_id, write=False)
    with db.session(write=False) as s:
        return crud.to_public(crud.get_device(s, device_id=device_id))


@router.patch("/{device_id}")
def update_device(
    device_id: DeviceIdPath, data: DeviceUpdate, db: DbDep, settings: SettingsDep, _: AdminDep
) -> DevicePublic:
    with db.session(write=True) as s:
        device = crud.get_device(s, device_id=device_id)
        before = _peer_place(device)
        crud.update_device(s, device=device, data=data, now=utcnow())
        _peer_place_moved(settings, s, device, before)  # site or gateway changed (mqtt_dynsec)
        return crud.to_public(device)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device(
    device_id: DeviceIdPath,
    db: DbDep,
    writer: WriterDep,
    settings: SettingsDep,
    request: Request,
    _: AdminDep,
) -> Response:
    with db.session(write=True) as s:
        site, gateway = _peer_place(crud.get_device(s, device_id=device_id))
        crud.delete_device(s, device_id=device_id)
        crud_twin.delete_desired(s, device_id=device_id)
        dynsec.device_deleted(settings, device_id)  # broker account gone (mqtt_dynsec)
        dynsec.peers_changed(settings, s, device_id=device_id, sites=[site], gateway=gateway)
    if writer:
        writer.forget(device_id)
    homeassistant.device_deleted(request.app, device_id)  # empty retained discovery config
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{device_id}/secret")
def rotate_secret(
    device_id: DeviceIdPath, db: DbDep, settings: SettingsDep, registry: RegistryDep, _: AdminDep
) -> DeviceCredentials:
    """Issue a new secret; the old one stops working at once."""
    secret = security.new_secret(security.DEVICE_SECRET_PREFIX)
    with db.session(write=True) as s:
        device = crud.get_device(s, device_id=device_id)
        crud.set_secret(s, device=device, secret_hash=security.digest(secret), now=utcnow())
        dynsec.secret_rotated(settings, device_id, secret)  # old secret refused (mqtt_dynsec)
        return credentials(settings, device, secret, registry)


@router.put("/{device_id}/service")
def register_service(
    device_id: DeviceIdPath,
    data: ServiceRecord,
    db: DbDep,
    settings: SettingsDep,
    who: CurrentPrincipal,
) -> DevicePublic:
    """Service registration (service_id, address, metadata) by the device itself or an admin;
    a site gateway registers `contract.peers.PEER_SERVICE` with a `PeerOffer` as metadata."""
    check_device_access(who, device_id, write=True)
    with db.session(write=True) as s:
        device = crud.get_device(s, device_id=device_id)
        before = _peer_place(device)
        crud.set_service(s, device=device, service=data, now=utcnow())
        _peer_place_moved(settings, s, device, before)  # a gateway came (mqtt_dynsec)
        return crud.to_public(device)


@router.delete("/{device_id}/service")
def deregister_service(
    device_id: DeviceIdPath, db: DbDep, settings: SettingsDep, who: CurrentPrincipal
) -> DevicePublic:
    check_device_access(who, device_id, write=True)
    with db.session(write=True) as s:
        device = crud.get_device(s, device_id=device_id)
        before = _peer_place(device)
        crud.set_service(s, device=device, service=None, now=utcnow())
        _peer_place_moved(settings, s, device, before)  # a gateway went (mqtt_dynsec)
        return crud.to_public(device)


@router.get("/{device_id}/health")
def device_health(device_id: DeviceIdPath, db: DbDep, who: CurrentPrincipal) -> DeviceHealthPublic:
    check_device_access(who, device_id, write=False)
    with db.session(write=False) as s:
        return crud.to_public(crud.get_device(s, device_id=device_id)).health


@router.get("/{device_id}/health/history")
def health_history(
    device_id: DeviceIdPath,
    db: DbDep,
    _: ReaderDep,
    resolution: Literal["raw", "minute"] = "raw",
    since: datetime | None = None,
    limit: Limit = 300,
) -> list[HealthSamplePublic] | list[HealthRollupPublic]:
    """Newest first: raw heartbeats (kept a day) or per-minute roll-ups (kept a month)."""
    with db.session(write=False) as s:
        crud.get_device(s, device_id=device_id)
        if resolution == "raw":
            hs = t.HealthSample
            q = select(hs).where(hs.device_id == device_id).order_by(hs.ts.desc()).limit(limit)
            if since:
                q = q.where(hs.ts >= since)
            return [
                HealthSamplePublic.model_validate(r, from_attributes=True) for r in s.scalars(q)
            ]
        hr = t.HealthRollup
        q2 = select(hr).where(hr.device_id == device_id).order_by(hr.minute.desc()).limit(limit)
        if since:
            # `minute` is an Integer column: a `since` after year 6053 is clamped (no rows
            # either way) rather than overflowing in the driver (500 on PostgreSQL)
            q2 = q2.where(hr.minute >= min(int(since.timestamp() // 60), MAX_ROW_ID))
        return [
            HealthRollupPublic(
                minute=datetime.fromtimestamp(r.minute * 60, UTC),
                n=r.n,
                cpu_avg=r.cpu_avg,
                cpu_max=r.cpu_max,
                mem_avg=r.mem_avg,
                mem_max=r.mem_max,
                rtt_ms_avg=r.rtt_ms_avg,
                queue_depth_max=r.queue_depth_max,
                offload_ratio_avg=r.offload_ratio_avg,
            )
            for r in s.scalars(q2)
        ]


@router.get("/{device_id}/state-changes")
def state_changes(
    device_id: DeviceIdPath, db: DbDep, _: ReaderDep, limit: Limit = 100
) -> list[StateChangePublic]:
    sc = t.DeviceStateChange
    with db.session(write=False) as s:
        crud.get_device(s, device_id=device_id)
        rows = s.scalars(
            select(sc)
            .where(sc.device_id == device_id)
            .order_by(sc.ts.desc(), sc.id.desc())
            .limit(limit)
        )
        return [StateChangePublic.model_validate(r, from_attributes=True) for r in rows]


def _newest(
    s: Session, table: Any, device_id: str, limit: int, **equal: str | None
) -> ScalarResult[Any]:
    """A device's rows of `table`, newest first, filtered on the given columns when set."""
    q = select(table).where(table.device_id == device_id)
    for column, value in equal.items():
        if value:
            q = q.where(getattr(table, column) == value)
    return s.scalars(q.order_by(table.ts.desc()).limit(limit))


@router.get("/{device_id}/results")
def results(
    device_id: DeviceIdPath,
    db: DbDep,
    who: CurrentPrincipal,
    model: str | None = None,
    limit: Limit = 100,
) -> list[ResultPublic]:
    check_device_access(who, device_id, write=False)
    with db.session(write=False) as s:
        crud.get_device(s, device_id=device_id)
        rows = _newest(s, t.Result, device_id, limit, model=model)
        return [ResultPublic.model_validate(r, from_attributes=True) for r in rows]


@router.get("/{device_id}/events")
def events(
    device_id: DeviceIdPath,
    db: DbDep,
    who: CurrentPrincipal,
    kind: str | None = None,
    limit: Limit = 100,
) -> list[EventPublic]:
    check_device_access(who, device_id, write=False)
    with db.session(write=False) as s:
        crud.get_device(s, device_id=device_id)
        rows = _newest(s, t.EventRow, device_id, limit, kind=kind)
        return [EventPublic.model_validate(r, from_attributes=True) for r in rows]


@router.get("/{device_id}/errors")
def errors(
    device_id: DeviceIdPath, db: DbDep, who: CurrentPrincipal, limit: Limit = 100
) -> list[DeviceErrorPublic]:
    check_device_access(who, device_id, write=False)
    with db.session(write=False) as s:
        crud.get_device(s, device_id=device_id)
        rows = _newest(s, t.DeviceError, device_id, limit)
        return [DeviceErrorPublic.model_validate(r, from_attributes=True) for r in rows]


@router.get("/{device_id}/twin")
def twin(device_id: DeviceIdPath, db: DbDep, who: CurrentPrincipal) -> TwinPublic:
    """The last reported twin (vector-clock ordered)."""
    check_device_access(who, device_id, write=False)
    with db.session(write=False) as s:
        crud.get_device(s, device_id=device_id)
        row = s.get(t.DeviceTwin, device_id)
        if row is None:
            return TwinPublic(reported=None, version={}, ts=None)
        return TwinPublic(reported=row.state, version=row.version, ts=row.ts)
