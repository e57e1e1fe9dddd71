"""Dashboard sessions in SQL (crud/sessions.py) on both databases: what a row holds, expiry
and purging, the bound, revoked keys and a changed bootstrap key. Times are passed in, so
nothing waits for a session to expire."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from cloud_hub.api.deps import api_key_identity
from cloud_hub.api.routes.session import resolve
from cloud_hub.core import security
from cloud_hub.core.db import Database
from cloud_hub.core.security import BOOTSTRAP_ADMIN, Principal, Role
from cloud_hub.crud import keys as crud_keys
from cloud_hub.crud import sessions
from cloud_hub.db import tables as t
from cloud_hub.schemas.keys import ApiKeyCreate

ADMIN = "efk_bootstrap-admin-key-for-session-tests"
ADMIN_DIGEST = security.digest(ADMIN)
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(create_engine(database_url))
    yield database
    database.dispose()


def _viewer(db: Database, name: str = "wall screen") -> tuple[int, str]:
    with db.session(write=True) as s:
        row, key = crud_keys.create_key(s, data=ApiKeyCreate(name=name, role="viewer"), now=T0)
        return row.id, key


def _open(
    db: Database, principal: Principal, key_id: int | None, now: datetime = T0, **kw: int
) -> str:
    with db.session(write=True) as s:
        sid, _ = sessions.create(
            s, principal=principal, api_key_id=key_id, admin_digest=ADMIN_DIGEST, now=now, **kw
        )
    return sid


def _find(
    db: Database, sid: str, now: datetime = T0, digest: str | None = ADMIN_DIGEST
) -> tuple[sessions.ActiveSession | None, bool]:
    with db.session(write=False) as s:
        return sessions.find(s, sid=sid, admin_digest=digest, now=now)


def _rows(db: Database) -> list[t.DashboardSession]:
    with db.session(write=False) as s:
        return list(s.scalars(select(t.DashboardSession)))


def test_a_session_is_the_principal_its_key_has(db: Database) -> None:
    key_id, key = _viewer(db)
    bearer, row_id = api_key_identity(db, ADMIN_DIGEST, key)
    assert (bearer, row_id) == (Principal(Role.VIEWER, "wall screen"), key_id)
    sid = _open(db, bearer, key_id)
    found, dead = _find(db, sid)
    assert found is not None
    assert not dead
    assert found.principal == bearer
    assert api_key_identity(db, ADMIN_DIGEST, ADMIN) == (BOOTSTRAP_ADMIN, None)
    admin, _ = _find(db, _open(db, BOOTSTRAP_ADMIN, None))
    assert admin is not None
    assert admin.principal == BOOTSTRAP_ADMIN
    assert _find(db, "not-a-session") == (None, False)


def test_rows_hold_digests_not_keys_or_session_ids(db: Database) -> None:
    key_id, key = _viewer(db)
    viewer_sid = _open(db, Principal(Role.VIEWER, "wall screen"), key_id)
    admin_sid = _open(db, BOOTSTRAP_ADMIN, None)
    rows = {r.sid_hash: r for r in _rows(db)}
    assert set(rows) == {security.digest(viewer_sid), security.digest(admin_sid)}
    viewer, admin = rows[security.digest(viewer_sid)], rows[security.digest(admin_sid)]
    assert (viewer.api_key_id, viewer.admin_proof) == (key_id, None)
    assert admin.api_key_id is None
    assert admin.admin_proof
    assert admin.admin_proof != ADMIN_DIGEST  # keyed by the session id: no digest to guess at
    for row in rows.values():
        stored = " ".join(str(v) for v in vars(row).values())
        for secret in (key, ADMIN, ADMIN_DIGEST, viewer_sid, admin_sid):
            assert secret not in stored


def test_expired_sessions_are_refused_and_purged(db: Database) -> None:
    sid = _open(db, BOOTSTRAP_ADMIN, None, ttl_s=60)
    assert _find(db, sid, T0 + timedelta(seconds=59))[0] is not None
    assert _find(db, sid, T0 + timedelta(seconds=60)) == (None, True)
    _open(db, BOOTSTRAP_ADMIN, None, now=T0 + timedelta(seconds=61))  # a sign-in purges
    assert security.digest(sid) not in {r.sid_hash for r in _rows(db)}


def test_the_oldest_session_goes_at_the_bound(db: Database) -> None:
    sids = [
        _open(db, BOOTSTRAP_ADMIN, None, now=T0 + timedelta(seconds=i), max_sessions=3)
        for i in range(5)
    ]
    assert {r.sid_hash for r in _rows(db)} == {security.digest(s) for s in sids[2:]}


def test_a_revoked_key_ends_its_sessions_and_resolve_drops_them(db: Database) -> None:
    key_id, _ = _viewer(db)
    other_id, _ = _viewer(db, "other screen")
    sid = _open(db, Principal(Role.VIEWER, "wall screen"), key_id)
    other = _open(db, Principal(Role.VIEWER, "other screen"), other_id)
    with db.session(write=True) as s:
        crud_keys.revoke_key(s, key_id=key_id, now=T0)
    assert _find(db, sid) == (None, True)
    assert resolve(db, ADMIN_DIGEST, sid) is None
    assert {r.sid_hash for r in _rows(db)} == {security.digest(other)}  # the dead one dropped
    assert resolve(db, ADMIN_DIGEST, other) is not None


def test_a_changed_bootstrap_key_ends_its_sessions(db: Database) -> None:
    sid = _open(db, BOOTSTRAP_ADMIN, None)
    assert _find(db, sid, digest=security.digest("efk_the-next-admin-key")) == (None, True)
    assert _find(db, sid, digest=None) == (None, True)  # no bootstrap key configured any more
    assert _find(db, sid)[0] is not None


def test_a_keyless_session_needs_the_bootstrap_digest(db: Database) -> None:
    with db.session(write=True) as s, pytest.raises(ValueError, match="digest"):
        sessions.create(s, principal=BOOTSTRAP_ADMIN, api_key_id=None, admin_digest=None, now=T0)
