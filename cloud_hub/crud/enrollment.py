"""Enrollment tokens and the enrollment itself, one transaction: use the token, add the device."""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cloud_hub.core import security
from cloud_hub.core.errors import NotFound, Unauthorized
from cloud_hub.crud import devices as crud_devices
from cloud_hub.db import tables as t
from cloud_hub.schemas.devices import SENSOR_TOPICS_KEY, DeviceCreate
from cloud_hub.schemas.enrollment import (
    EnrollmentTokenCreate,
    EnrollmentTokenPublic,
    EnrollRequest,
)


def to_public(row: t.EnrollmentToken) -> EnrollmentTokenPublic:
    return EnrollmentTokenPublic(
        id=row.id,
        name=row.name,
        max_uses=row.max_uses,
        uses=row.uses,
        expires_at=row.expires_at,
        revoked=row.revoked_at is not None,
        created_at=row.created_at,
        site=row.site,
        tags=list(row.tags or []),
        metadata=row.meta or {},
    )


def create_token(
    session: Session, *, data: EnrollmentTokenCreate, now: datetime
) -> tuple[t.EnrollmentToken, str]:
    token = security.new_secret(security.ENROLL_TOKEN_PREFIX)
    row = t.EnrollmentToken(
        name=data.name,
        token_hash=security.digest(token),
        max_uses=data.max_uses,
        uses=0,
        expires_at=now + timedelta(seconds=data.expires_in_s),
        created_at=now,
        site=data.site,
        tags=list(data.tags),
        meta=data.metadata,
    )
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session) -> list[t.EnrollmentToken]:
    return list(session.scalars(select(t.EnrollmentToken).order_by(t.EnrollmentToken.id)))


def revoke_token(session: Session, *, token_id: int, now: datetime) -> t.EnrollmentToken:
    row = session.get(t.EnrollmentToken, token_id)
    if row is None:
        raise NotFound(f"enrollment token {token_id} not found")
    row.revoked_at = row.revoked_at or now
    session.flush()
    return row


def _use_token(session: Session, *, token: str, now: datetime) -> t.EnrollmentToken:
    row = session.scalar(
        select(t.EnrollmentToken).where(t.EnrollmentToken.token_hash == security.digest(token))
    )
    if row is None:
        raise Unauthorized("unknown enrollment token", code="invalid_token")
    if row.revoked_at is not None:
        raise Unauthorized("enrollment token was revoked", code="token_revoked")
    if row.expires_at <= now:
        raise Unauthorized("enrollment token has expired", code="token_expired")
    # Atomic check-and-increment: two devices racing for a single-use token cannot both win.
    used = session.execute(
        update(t.EnrollmentToken)
        .where(
            t.EnrollmentToken.id == row.id,
            or_(
                t.EnrollmentToken.max_uses.is_(None),
                t.EnrollmentToken.uses < t.EnrollmentToken.max_uses,
            ),
        )
        .values(uses=t.EnrollmentToken.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthorized("enrollment token has been used up", code="token_used")
    return row


def enroll(
    session: Session, *, token: str, request: EnrollRequest, now: datetime
) -> tuple[t.Device, str]:
    """Create a device from a token; returns it with its secret (shown once).

    Everything happens in the caller's transaction, so a failure (e.g. the device id is
    taken) leaves neither a device nor a used-up token behind.
    """
    row = _use_token(session, token=token, now=now)
    secret = security.new_secret(security.DEVICE_SECRET_PREFIX)
    data = DeviceCreate(
        id=request.device_id or f"dev-{secrets.token_hex(6)}",
        name=request.name,
        site=row.site,
        hardware=request.hardware,
        agent_version=request.agent_version,
        capabilities=request.capabilities,
        tags=list(dict.fromkeys([*(row.tags or []), *request.tags])),
        # A device may describe itself, but not grant itself broker rights: the sensor
        # topics it may read come from the admin (the token or a later PATCH) only.
        metadata={
            **(row.meta or {}),
            **{k: v for k, v in request.metadata.items() if k != SENSOR_TOPICS_KEY},
        },
    )
    device = crud_devices.create_device(
        session, data=data, secret_hash=security.digest(secret), now=now, enrolled_with=row.id
    )
    return device, secret
