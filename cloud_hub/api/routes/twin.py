"""`/devices/{id}/twin/desired`: the configuration the hub wants a device to run.

A write stores the new desired state and version in SQL, then publishes it retained (QoS 1)
on `{d}/twin/desired` through the bridge, so a device that is offline gets it on reconnect.
"""

import anyio
from fastapi import APIRouter, Request

from cloud_hub.api.deps import AdminDep, CurrentPrincipal, DbDep, check_device_access
from cloud_hub.core.clock import utcnow
from cloud_hub.core.db import Database
from cloud_hub.crud import devices as crud_devices
from cloud_hub.crud import twin as crud
from cloud_hub.integrations.mqtt import publish
from cloud_hub.schemas.common import error_responses
from cloud_hub.schemas.twin import TwinDesiredPublic, TwinDesiredWrite
from contract import Topics, TwinDesired, encode
from contract.ids import DeviceId

router = APIRouter(prefix="/devices", tags=["twin"])
DeviceIdPath = DeviceId


def _read(db: Database, device_id: str) -> TwinDesiredPublic:
    with db.session(write=False) as s:
        crud_devices.get_device(s, device_id=device_id)
        return crud.to_public(s, device_id=device_id)


def _write(db: Database, device_id: str, data: TwinDesiredWrite, patch: bool) -> TwinDesired:
    with db.session(write=True) as s:
        crud_devices.get_device(s, device_id=device_id)
        row = crud.set_desired(
            s,
            device_id=device_id,
            state=data.state,
            base_version=data.base_version,
            patch=patch,
            now=utcnow(),
        )
        return TwinDesired(version=dict(row.version), state=row.state["desired"], ts=row.ts)


def _published(db: Database, device_id: str, version: dict[str, int]) -> None:
    with db.session(write=True) as s:
        crud.mark_published(s, device_id=device_id, version=version)


async def _change(
    request: Request, db: Database, device_id: str, data: TwinDesiredWrite, patch: bool
) -> TwinDesiredPublic:
    desired = await anyio.to_thread.run_sync(_write, db, device_id, data, patch)
    topic = Topics(request.app.state.settings.topic_prefix).twin_desired(device_id)
    if await publish(request.app, topic, encode(desired), retain=True):
        await anyio.to_thread.run_sync(_published, db, device_id, desired.version)
    return await anyio.to_thread.run_sync(_read, db, device_id)


@router.get("/{device_id}/twin/desired")
async def get_desired(
    device_id: DeviceIdPath, db: DbDep, who: CurrentPrincipal
) -> TwinDesiredPublic:
    """Desired state and version, how the reported twin compares (`sync`), and conflicts."""
    check_device_access(who, device_id, write=False)
    return await anyio.to_thread.run_sync(_read, db, device_id)


@router.put("/{device_id}/twin/desired", responses=error_responses(409))
async def put_desired(
    device_id: DeviceIdPath, data: TwinDesiredWrite, request: Request, db: DbDep, _: AdminDep
) -> TwinDesiredPublic:
    """Replace the desired state; 409 `twin_conflict` when `base_version` is not current."""
    return await _change(request, db, device_id, data, patch=False)


@router.patch("/{device_id}/twin/desired", responses=error_responses(409))
async def patch_desired(
    device_id: DeviceIdPath, data: TwinDesiredWrite, request: Request, db: DbDep, _: AdminDep
) -> TwinDesiredPublic:
    """Merge keys into the desired state (a null value removes a key)."""
    return await _change(request, db, device_id, data, patch=True)
