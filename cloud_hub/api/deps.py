"""Request dependencies as `Annotated` aliases: the database, settings and the caller.

Credentials: `Authorization: Bearer <api key>` for admins and viewers (the bootstrap admin key
from settings, or a key from `api_keys`); `Authorization: Basic base64(device_id:secret)` for a
device - the same pair it uses on the broker. A request without `Authorization` may carry a
dashboard session cookie instead: `SessionMiddleware` (api/routes/session.py) resolves it to the
principal its key has and leaves it in the request state, where `get_principal` picks it up,
so the role checks below are the same for both.
"""

import base64
import binascii
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from cloud_hub.core import security
from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Forbidden, Unauthorized
from cloud_hub.core.security import BOOTSTRAP_ADMIN, Principal, Role
from cloud_hub.crud import keys as crud_keys
from cloud_hub.crud.sessions import ActiveSession
from cloud_hub.db import tables as t
from cloud_hub.inference.service import InferenceService
from cloud_hub.ingest.writer import IngestWriter
from cloud_hub.registry.service import Registry
from cloud_hub.schemas.common import MAX_ROW_ID


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_writer(request: Request) -> IngestWriter | None:
    writer: IngestWriter | None = request.app.state.writer
    return writer


def get_inference(request: Request) -> InferenceService:
    service: InferenceService = request.app.state.inference
    return service


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
WriterDep = Annotated[IngestWriter | None, Depends(get_writer)]
InferenceDep = Annotated[InferenceService, Depends(get_inference)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
# A numeric row id in a path: out of the database's integer range is a 422, not a 500.
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
# Where `SessionMiddleware` leaves a request's live dashboard session (`scope["state"]`).
SESSION_STATE = "dashboard_session"


def bearer_token(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("send `Authorization: Bearer <token>`", code="missing_credentials")
    return value.strip()


def _device(db: Database, encoded: str) -> Principal:
    try:
        device_id, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        device_id, sep, secret = "", "", ""
    if not sep:
        raise Unauthorized("malformed Basic credentials", code="invalid_credentials")
    with db.session(write=False) as s:
        device = s.get(t.Device, device_id)
        ok = device is not None and security.matches(secret, device.secret_hash)
    if not ok:
        raise Unauthorized("invalid device credentials", code="invalid_credentials")
    return Principal(Role.DEVICE, device_id, device_id=device_id)


def api_key_identity(
    db: Database, admin_digest: str | None, key: str
) -> tuple[Principal, int | None]:
    """An admin or viewer key's principal and `api_keys` row id (None: the bootstrap key)."""
    if admin_digest is not None and security.matches(key, admin_digest):
        return BOOTSTRAP_ADMIN, None
    with db.session(write=False) as s:
        row = crud_keys.find_key(s, key=key)
        if row is None:
            raise Unauthorized("invalid API key", code="invalid_credentials")
        return Principal(Role(row.role), row.name), row.id


def admin_digest(app: Any) -> str | None:
    """The bootstrap admin key's digest, set by the hub's lifespan (None before it ran)."""
    digest: str | None = getattr(app.state, "admin_key_digest", None)
    return digest


def session_of(request: Request) -> ActiveSession | None:
    """The dashboard session `SessionMiddleware` resolved for this request, if any."""
    session = getattr(request.state, SESSION_STATE, None)
    return session if isinstance(session, ActiveSession) else None


def get_principal(request: Request, db: DbDep) -> Principal:
    authorization = request.headers.get("authorization")
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return api_key_identity(db, admin_digest(request.app), value.strip())[0]
    if scheme.lower() == "basic" and value.strip():
        return _device(db, value.strip())
    if authorization is None and (session := session_of(request)) is not None:
        return session.principal
    raise Unauthorized(
        "credentials required: `Authorization: Bearer <api key>` or device `Basic` credentials",
        code="missing_credentials",
    )


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role is not Role.ADMIN:
        raise Forbidden("this needs an admin API key")
    return principal


def require_reader(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.can_read_fleet:
        raise Forbidden("this needs an admin or viewer API key")
    return principal


def require_device(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role is not Role.DEVICE:
        raise Forbidden("this needs device credentials")
    return principal


def require_device_or_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role not in (Role.DEVICE, Role.ADMIN):
        raise Forbidden("this needs device credentials or an admin API key")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
ReaderDep = Annotated[Principal, Depends(require_reader)]
DeviceDep = Annotated[Principal, Depends(require_device)]
DeviceOrAdminDep = Annotated[Principal, Depends(require_device_or_admin)]


def check_device_access(principal: Principal, device_id: str, *, write: bool) -> None:
    """A device may act on itself only; viewers read; admins do anything."""
    if principal.role is Role.DEVICE:
        if principal.device_id != device_id:
            raise Forbidden("a device may only act on itself")
        return
    if write and principal.role is not Role.ADMIN:
        raise Forbidden("this needs an admin API key")
