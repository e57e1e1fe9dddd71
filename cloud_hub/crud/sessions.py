"""Dashboard sessions in SQL, so that every hub replica sees them and a restart keeps them.

The browser's cookie holds a random session id; the table holds only its SHA-256, so a copy of
the database signs nobody in. A session names the `api_keys` row it was opened with and is
checked against that row on each request: a revoked key ends its sessions at once, on every
replica. The bootstrap admin key has no row; its sessions carry `admin_proof`, an HMAC of the
session id keyed with the configured key's digest, which matches only while that key is still
the configured one and, without the session id, gives nothing to guess the key against.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cloud_hub.core import security
from cloud_hub.core.security import BOOTSTRAP_ADMIN, Principal, Role
from cloud_hub.db import tables as t

SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A live session as a request sees it: whom it stands for and its CSRF token."""

    sid_hash: str
    principal: Principal
    csrf: str
    expires_at: datetime


def _proof(admin_digest: str, sid: str) -> str:
    return hmac.new(admin_digest.encode(), sid.encode(), hashlib.sha256).hexdigest()


def create(
    s: Session,
    *,
    principal: Principal,
    api_key_id: int | None,
    admin_digest: str | None,
    now: datetime,
    ttl_s: float = SESSION_TTL_S,
    max_sessions: int = MAX_SESSIONS,
) -> tuple[str, ActiveSession]:
    """A new session for a checked key (`api_key_id` None: the bootstrap admin key, whose
    digest is then required); returns the session id for the cookie. Expired sessions are
    purged and, at `max_sessions`, the oldest dropped, so the table stays bounded."""
    if api_key_id is None and admin_digest is None:
        raise ValueError("a session without an API key row needs the bootstrap key's digest")
    purge_expired(s, now=now)
    excess = (s.scalar(select(func.count()).select_from(t.DashboardSession)) or 0) - (
        max_sessions - 1
    )
    if excess > 0:
        oldest = select(t.DashboardSession.sid_hash).order_by(t.DashboardSession.created_at)
        victims = list(s.scalars(oldest.limit(excess)))
        s.execute(delete(t.DashboardSession).where(t.DashboardSession.sid_hash.in_(victims)))
    sid = secrets.token_urlsafe(32)
    row = t.DashboardSession(
        sid_hash=security.digest(sid),
        api_key_id=api_key_id,
        admin_proof=_proof(admin_digest, sid) if api_key_id is None and admin_digest else None,
        role=principal.role.value,
        name=principal.name,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    s.add(row)
    s.flush()
    return sid, ActiveSession(row.sid_hash, principal, row.csrf_token, row.expires_at)


def find(
    s: Session, *, sid: str, admin_digest: str | None, now: datetime
) -> tuple[ActiveSession | None, bool]:
    """The live session for a cookie's session id, and whether a dead row for it (expired,
    key revoked, bootstrap key changed) should be dropped. The principal is the one a Bearer
    request with the same key gets: the key row's role and name, or the bootstrap admin."""
    sid_hash = security.digest(sid)
    found = s.execute(
        select(t.DashboardSession, t.ApiKey)
        .outerjoin(t.ApiKey, t.ApiKey.id == t.DashboardSession.api_key_id)
        .where(t.DashboardSession.sid_hash == sid_hash)
    ).first()
    if found is None:
        return None, False
    row, key = found
    principal: Principal | None = None
    if row.api_key_id is not None:
        if key is not None and key.revoked_at is None:
            principal = Principal(Role(key.role), key.name)
    elif (
        row.admin_proof
        and admin_digest is not None
        and hmac.compare_digest(row.admin_proof, _proof(admin_digest, sid))
    ):
        principal = BOOTSTRAP_ADMIN
    if principal is None or row.expires_at <= now:
        return None, True
    return ActiveSession(sid_hash, principal, row.csrf_token, row.expires_at), False


def drop(s: Session, *, sid_hash: str) -> None:
    """Delete a session: sign-out, or a dead one."""
    s.execute(delete(t.DashboardSession).where(t.DashboardSession.sid_hash == sid_hash))


def purge_expired(s: Session, *, now: datetime) -> None:
    s.execute(delete(t.DashboardSession).where(t.DashboardSession.expires_at <= now))
