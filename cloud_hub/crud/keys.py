"""API keys for administrators and (read-only) viewers."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_hub.core import security
from cloud_hub.core.errors import NotFound
from cloud_hub.db import tables as t
from cloud_hub.schemas.keys import ApiKeyCreate, ApiKeyPublic


def to_public(row: t.ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked=row.revoked_at is not None,
    )


def create_key(session: Session, *, data: ApiKeyCreate, now: datetime) -> tuple[t.ApiKey, str]:
    key = security.new_secret(security.ADMIN_KEY_PREFIX)
    row = t.ApiKey(
        name=data.name,
        role=data.role,
        key_hash=security.digest(key),
        prefix=key[:10],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, key


def list_keys(session: Session) -> list[t.ApiKey]:
    return list(session.scalars(select(t.ApiKey).order_by(t.ApiKey.id)))


def revoke_key(session: Session, *, key_id: int, now: datetime) -> t.ApiKey:
    row = session.get(t.ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    row.revoked_at = row.revoked_at or now
    session.flush()
    return row


def find_key(session: Session, *, key: str) -> t.ApiKey | None:
    """The live key with this value, if any."""
    row = session.scalar(select(t.ApiKey).where(t.ApiKey.key_hash == security.digest(key)))
    return row if row is not None and row.revoked_at is None else None
