"""Enrollment tokens (admin) and enrollment itself (a device, with a token).

`edgefleet provision --hub URL --token T` needs one call, `POST` to the hub's enroll path
(contract.http.ENROLL) with `Authorization: Bearer T` and `{"device_id": "...", ...}`, and
gets back a `contract.Enrollment`: the device id, its secret and where the broker is.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from cloud_hub.api.deps import (
    AdminDep,
    DbDep,
    RegistryDep,
    RowIdPath,
    SettingsDep,
    WriterDep,
    bearer_token,
)
from cloud_hub.api.routes.devices import credentials
from cloud_hub.core.clock import utcnow
from cloud_hub.crud import enrollment as crud
from cloud_hub.integrations import dynsec
from cloud_hub.schemas.common import error_responses
from cloud_hub.schemas.devices import DeviceCredentials
from cloud_hub.schemas.enrollment import (
    EnrollmentTokenCreate,
    EnrollmentTokenCreated,
    EnrollmentTokenPublic,
    EnrollRequest,
)
from contract.http import ENROLL, ENROLLMENT_TOKENS

router = APIRouter(tags=["enrollment"])


@router.post(ENROLLMENT_TOKENS, status_code=status.HTTP_201_CREATED)
def create_token(data: EnrollmentTokenCreate, db: DbDep, _: AdminDep) -> EnrollmentTokenCreated:
    with db.session(write=True) as s:
        row, token = crud.create_token(s, data=data, now=utcnow())
        return EnrollmentTokenCreated(**crud.to_public(row).model_dump(), token=token)


@router.get(ENROLLMENT_TOKENS)
def list_tokens(db: DbDep, _: AdminDep) -> list[EnrollmentTokenPublic]:
    with db.session(write=False) as s:
        return [crud.to_public(r) for r in crud.list_tokens(s)]


@router.delete(ENROLLMENT_TOKENS + "/{token_id}")
def revoke_token(token_id: RowIdPath, db: DbDep, _: AdminDep) -> EnrollmentTokenPublic:
    with db.session(write=True) as s:
        return crud.to_public(crud.revoke_token(s, token_id=token_id, now=utcnow()))


@router.post(ENROLL, status_code=status.HTTP_201_CREATED, responses=error_responses(409))
def enroll(
    data: EnrollRequest,
    token: Annotated[str, Depends(bearer_token)],
    db: DbDep,
    settings: SettingsDep,
    writer: WriterDep,
    registry: RegistryDep,
) -> DeviceCredentials:
    """Exchange an enrollment token for a device id and a per-device secret (shown once)."""
    with db.session(write=True) as s:
        device, secret = crud.enroll(s, token=token, request=data, now=utcnow())
        out = credentials(settings, device, secret, registry)
        dynsec.device_created(settings, device.id, secret)  # broker account (mqtt_dynsec)
        dynsec.peers_changed(settings, s, device_id=device.id, sites=[device.site], gateway=False)
    if writer:
        writer.known(device.id)
    return out
