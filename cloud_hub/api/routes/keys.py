"""`/api-keys` (admin) and `/whoami` (anyone with credentials), below the API prefix."""

from fastapi import APIRouter, status
from pydantic import BaseModel

from cloud_hub.api.deps import AdminDep, CurrentPrincipal, DbDep, RowIdPath
from cloud_hub.core.clock import utcnow
from cloud_hub.crud import keys as crud
from cloud_hub.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic

router = APIRouter(tags=["auth"])


class WhoAmI(BaseModel):
    role: str
    name: str
    device_id: str | None


@router.get("/whoami")
def whoami(who: CurrentPrincipal) -> WhoAmI:
    return WhoAmI(role=who.role, name=who.name, device_id=who.device_id)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
def create_key(data: ApiKeyCreate, db: DbDep, _: AdminDep) -> ApiKeyCreated:
    with db.session(write=True) as s:
        row, key = crud.create_key(s, data=data, now=utcnow())
        return ApiKeyCreated(**crud.to_public(row).model_dump(), key=key)


@router.get("/api-keys")
def list_keys(db: DbDep, _: AdminDep) -> list[ApiKeyPublic]:
    with db.session(write=False) as s:
        return [crud.to_public(r) for r in crud.list_keys(s)]


@router.delete("/api-keys/{key_id}")
def revoke_key(key_id: RowIdPath, db: DbDep, _: AdminDep) -> ApiKeyPublic:
    with db.session(write=True) as s:
        return crud.to_public(crud.revoke_key(s, key_id=key_id, now=utcnow()))
