"""Devices: create, read, filter with keyset paging, update, delete, rotate secret."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud_hub.core.errors import Conflict, NotFound
from cloud_hub.db import tables as t
from cloud_hub.schemas.devices import (
    DeviceCreate,
    DeviceHealthPublic,
    DevicePublic,
    DeviceUpdate,
    ServiceRecord,
)
from contract.health import LIVE_STATES, DeviceState

TELEMETRY = (
    t.HealthSample,
    t.HealthRollup,
    t.Result,
    t.EventRow,
    t.DeviceError,
    t.DeviceStateChange,
    t.DeviceTwin,
    t.CommandRecord,
)


def to_public(device: t.Device) -> DevicePublic:
    service = None
    if device.service_id and device.address:
        service = ServiceRecord(
            service_id=device.service_id, address=device.address, metadata=device.service_meta or {}
        )
    return DevicePublic(
        id=device.id,
        name=device.name,
        site=device.site,
        tags=[r.tag for r in device.tag_rows],
        metadata=device.meta or {},
        hardware=device.hardware,
        agent_version=device.agent_version,
        capabilities=[r.model for r in device.capability_rows],
        service=service,
        health=DeviceHealthPublic(
            state=device.state,  # type: ignore[arg-type]
            reason=device.state_reason,
            since=device.state_since,
            last_seen=device.last_seen,
            last_heartbeat_at=device.last_heartbeat_at,
            last_health=device.last_health,
        ),
        created_at=device.created_at,
        updated_at=device.updated_at,
    )


def _set_tags(device: t.Device, tags: Sequence[str]) -> None:
    device.tag_rows = [t.DeviceTag(tag=tag, device_id=device.id) for tag in dict.fromkeys(tags)]


def _set_capabilities(device: t.Device, models: Sequence[str]) -> None:
    device.capability_rows = [
        t.DeviceCapability(model=m, device_id=device.id) for m in dict.fromkeys(models)
    ]


def create_device(
    session: Session,
    *,
    data: DeviceCreate,
    secret_hash: str,
    now: datetime,
    enrolled_with: int | None = None,
) -> t.Device:
    if session.get(t.Device, data.id) is not None:
        raise Conflict(f"device {data.id!r} already exists", code="device_exists")
    device = t.Device(
        id=data.id,
        name=data.name,
        site=data.site,
        hardware=data.hardware,
        agent_version=data.agent_version,
        meta=data.metadata,
        service_meta={},
        secret_hash=secret_hash,
        enrolled_with=enrolled_with,
        created_at=now,
        updated_at=now,
        state=DeviceState.OFFLINE.value,
        state_reason="never connected",
        state_since=now,
    )
    _set_tags(device, data.tags)
    _set_capabilities(device, data.capabilities)
    session.add(device)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent enrollment took the id first
        raise Conflict(f"device {data.id!r} already exists", code="device_exists") from exc
    return device


def get_device(session: Session, *, device_id: str) -> t.Device:
    device = session.get(t.Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id!r} not found", code="unknown_device")
    return device


def _filters(
    *,
    state: str | None,
    site: str | None,
    tags: Sequence[str],
    capability: str | None,
    service_id: str | None,
    q: str | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if state:
        where.append(t.Device.state == state)
    if site:
        where.append(t.Device.site == site)
    if service_id:
        where.append(t.Device.service_id == service_id)
    for tag in tags:
        where.append(t.Device.id.in_(select(t.DeviceTag.device_id).where(t.DeviceTag.tag == tag)))
    if capability:
        where.append(
            t.Device.id.in_(
                select(t.DeviceCapability.device_id).where(t.DeviceCapability.model == capability)
            )
        )
    if q:
        where.append(
            or_(
                t.Device.id.startswith(q, autoescape=True),
                func.lower(t.Device.name).contains(q.lower(), autoescape=True),
            )
        )
    return where


def list_devices(
    session: Session,
    *,
    limit: int,
    cursor: str | None = None,
    state: str | None = None,
    site: str | None = None,
    tags: Sequence[str] = (),
    capability: str | None = None,
    service_id: str | None = None,
    q: str | None = None,
) -> tuple[list[t.Device], int, str | None]:
    """One page ordered by id (keyset: `cursor` is the last id seen), total, next cursor."""
    where = _filters(
        state=state, site=site, tags=tags, capability=capability, service_id=service_id, q=q
    )
    total = session.scalar(select(func.count()).select_from(t.Device).where(*where)) or 0
    stmt = select(t.Device).where(*where).order_by(t.Device.id).limit(limit + 1)
    if cursor:
        stmt = stmt.where(t.Device.id > cursor)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, total, rows[-1].id if more and rows else None


def update_device(
    session: Session, *, device: t.Device, data: DeviceUpdate, now: datetime
) -> t.Device:
    fields = data.model_dump(exclude_unset=True)
    for name in ("name", "site", "hardware", "agent_version"):
        if name in fields:
            setattr(device, name, fields[name])
    if "metadata" in fields:
        device.meta = data.metadata or {}
    if "tags" in fields:
        _set_tags(device, data.tags or [])
    if "capabilities" in fields:
        _set_capabilities(device, data.capabilities or [])
    if "service" in fields:
        set_service(session, device=device, service=data.service, now=now)
    device.updated_at = now
    session.flush()
    return device


def set_service(
    session: Session, *, device: t.Device, service: ServiceRecord | None, now: datetime
) -> t.Device:
    device.service_id = service.service_id if service else None
    device.address = service.address if service else None
    device.service_meta = dict(service.metadata) if service else {}
    device.updated_at = now
    session.flush()
    return device


def set_secret(session: Session, *, device: t.Device, secret_hash: str, now: datetime) -> None:
    device.secret_hash = secret_hash
    device.updated_at = now
    session.flush()


def delete_device(session: Session, *, device_id: str) -> None:
    device = get_device(session, device_id=device_id)
    session.delete(device)
    for table in TELEMETRY:
        session.execute(delete(table).where(table.device_id == device_id))  # type: ignore[attr-defined]
    session.flush()


def list_services(
    session: Session, *, service_id: str | None, healthy_only: bool
) -> list[t.Device]:
    stmt = select(t.Device).where(t.Device.service_id.is_not(None)).order_by(t.Device.id)
    if service_id:
        stmt = stmt.where(t.Device.service_id == service_id)
    if healthy_only:
        stmt = stmt.where(t.Device.state.in_(LIVE_STATES))
    return list(session.scalars(stmt))


def count_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(t.Device.state, func.count()).group_by(t.Device.state))
    return {state: int(n) for state, n in rows}
