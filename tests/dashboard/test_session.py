"""Dashboard sign-in over HTTP: the session cookie, CSRF, sign-out, revoked keys, and the shell
served at `/`; sessions in the database (shared by two hubs on one SQLite file, kept over a
restart, never holding a key); plus the live stream's batch -> update mapping (a pure
function). Two hub processes on PostgreSQL: test_session_replicas.py."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from cloud_hub.api.routes.live import updates
from cloud_hub.api.routes.session import COOKIE, CSP
from cloud_hub.core import security
from cloud_hub.core.config import Settings
from cloud_hub.ingest.rows import Batch
from tests.hub.conftest import ADMIN_KEY, Hub, running_hub

ORIGIN = {"Origin": "http://hub"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'hub.db'}",  # migrated by the hub's lifespan
        "data_dir": tmp_path / "data",
        "admin_api_key": ADMIN_KEY,
        "mqtt_enabled": False,
        "log_json": False,
    }
    return Settings(**{**values, **overrides})


@asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[Hub]:
    async for h in running_hub(settings):
        yield h


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with replica(_settings(tmp_path)) as h:
        yield h


async def _viewer_key(hub: Hub) -> tuple[int, str]:
    r = await hub.client.post(
        "/api/v1/api-keys", headers=hub.admin, json={"name": "wall screen", "role": "viewer"}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


async def test_shell_is_public_and_locked_down(hub: Hub) -> None:
    r = await hub.client.get("/")
    assert r.status_code == 200
    assert '<script type="module" src="/assets/app.js">' in r.text
    assert r.headers["content-security-policy"] == CSP
    assert (await hub.client.get("/assets/app.js")).status_code == 200
    assert (await hub.client.get("/api/v1/devices")).status_code == 401  # data is not public


async def test_sign_in_sets_an_httponly_strict_cookie(hub: Hub) -> None:
    r = await hub.client.post("/api/v1/session", headers=bearer(ADMIN_KEY))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "admin"
    assert body["csrf_token"]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert ADMIN_KEY.lower() not in cookie
    assert (await hub.client.get("/api/v1/fleet/summary")).status_code == 200
    assert (await hub.client.get("/api/v1/session")).json()["csrf_token"] == body["csrf_token"]


async def test_wrong_key_is_refused(hub: Hub) -> None:
    r = await hub.client.post("/api/v1/session", headers=bearer("efk_wrong"))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"
    assert COOKIE not in hub.client.cookies


async def test_writes_need_the_csrf_token_and_same_origin(hub: Hub) -> None:
    csrf = (await hub.client.post("/api/v1/session", headers=bearer(ADMIN_KEY))).json()[
        "csrf_token"
    ]
    body = {"id": "cam-1"}
    no_token = await hub.client.post("/api/v1/devices", json=body, headers=ORIGIN)
    assert no_token.status_code == 403
    assert no_token.json()["error"]["code"] == "csrf_failed"
    foreign = await hub.client.post(
        "/api/v1/devices", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.test"}
    )
    assert foreign.status_code == 403
    ok = await hub.client.post(
        "/api/v1/devices", json=body, headers={"X-CSRF-Token": csrf, **ORIGIN}
    )
    assert ok.status_code == 201, ok.text


async def test_viewer_session_reads_only_and_dies_with_its_key(hub: Hub) -> None:
    key_id, key = await _viewer_key(hub)
    csrf = (await hub.client.post("/api/v1/session", headers=bearer(key))).json()["csrf_token"]
    assert (await hub.client.get("/api/v1/devices")).status_code == 200
    write = await hub.client.post(
        "/api/v1/devices", json={"id": "cam-2"}, headers={"X-CSRF-Token": csrf}
    )
    assert write.status_code == 403  # a viewer, even with a valid CSRF token
    revoke = await hub.client.delete(f"/api/v1/api-keys/{key_id}", headers=hub.admin)
    assert revoke.status_code == 200
    assert (await hub.client.get("/api/v1/devices")).status_code == 401


async def test_sign_out_ends_the_session(hub: Hub) -> None:
    csrf = (await hub.client.post("/api/v1/session", headers=bearer(ADMIN_KEY))).json()[
        "csrf_token"
    ]
    sid = hub.client.cookies[COOKIE]
    out = await hub.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    hub.client.cookies.set(COOKIE, sid)  # a copied cookie is worthless after sign-out
    assert (await hub.client.get("/api/v1/devices")).status_code == 401


async def test_two_hubs_on_one_database_share_sessions(tmp_path: Path) -> None:
    """What replicas behind one proxy need: signed in on one, signed in on all; signed out
    on one, signed out on all. Also the bootstrap admin's session works on both."""
    async with replica(_settings(tmp_path)) as a, replica(_settings(tmp_path)) as b:
        signed = await a.client.post("/api/v1/session", headers=bearer(ADMIN_KEY))
        csrf, sid = signed.json()["csrf_token"], a.client.cookies[COOKIE]
        b.client.cookies.set(COOKIE, sid)
        assert (await b.client.get("/api/v1/whoami")).json()["name"] == "bootstrap"
        assert (await b.client.get("/api/v1/session")).json()["csrf_token"] == csrf
        made = await b.client.post(
            "/api/v1/devices", json={"id": "cam-b"}, headers={"X-CSRF-Token": csrf, **ORIGIN}
        )
        assert made.status_code == 201, made.text
        out = await b.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert (await a.client.get("/api/v1/devices")).status_code == 401


async def test_a_session_survives_a_restart_but_not_a_new_admin_key(tmp_path: Path) -> None:
    async with replica(_settings(tmp_path)) as first:
        assert (await first.client.post("/api/v1/session", headers=bearer(ADMIN_KEY))).is_success
        _, viewer = await _viewer_key(first)
        assert (await first.client.post("/api/v1/session", headers=bearer(viewer))).is_success
        viewer_sid = first.client.cookies[COOKIE]
        first.client.cookies.clear()
        assert (await first.client.post("/api/v1/session", headers=bearer(ADMIN_KEY))).is_success
        admin_sid = first.client.cookies[COOKIE]
    async with replica(_settings(tmp_path)) as again:
        again.client.cookies.set(COOKIE, admin_sid)
        assert (await again.client.get("/api/v1/whoami")).json()["role"] == "admin"
    rotated = _settings(tmp_path, admin_api_key="efk_the-next-bootstrap-admin-key-0123")
    async with replica(rotated) as after:
        after.client.cookies.set(COOKIE, admin_sid)
        assert (await after.client.get("/api/v1/devices")).status_code == 401
        after.client.cookies.set(COOKIE, viewer_sid)  # a key row's session does not care
        assert (await after.client.get("/api/v1/whoami")).json()["role"] == "viewer"


async def test_the_sessions_table_holds_no_key_and_no_session_id(hub: Hub) -> None:
    key_id, key = await _viewer_key(hub)
    sids: list[str] = []
    for k, cookie in ((ADMIN_KEY, None), (key, None), (ADMIN_KEY, 0)):
        hub.client.cookies.clear()
        if cookie is not None:  # signing in again from the same browser
            hub.client.cookies.set(COOKIE, sids[cookie])
        signed = await hub.client.post("/api/v1/session", headers=bearer(k))
        assert signed.is_success
        sids.append(signed.cookies[COOKIE])
    engine = create_engine(str(hub.settings.sqlalchemy_url))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM dashboard_sessions"))]
    engine.dispose()
    # the third sign-in sent the first's cookie: that session was replaced, not kept
    assert {r["sid_hash"] for r in rows} == {security.digest(s) for s in sids[1:]}
    assert {r["api_key_id"] for r in rows} == {key_id, None}
    dump = repr(rows)
    for secret in (ADMIN_KEY, key, security.digest(ADMIN_KEY), security.digest(key), *sids):
        assert secret not in dump


def test_live_updates_from_a_batch() -> None:
    t0, t1 = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)
    sample = {
        "cpu": 0.5,
        "mem": 0.2,
        "rtt_ms": None,
        "infer_ms_p50": 9.0,
        "offload_ratio": 0.1,
        "queue_depth": 0,
    }
    batch = Batch(
        health=[{"device_id": "a", "ts": t1, **sample}, {"device_id": "a", "ts": t0, **sample}],
        state_changes=[
            {
                "device_id": "a",
                "ts": t1,
                "from_state": "online",
                "to_state": "offline",
                "reason": "status offline",
            }
        ],
    )
    out = updates(batch)
    assert out[0] == {
        "type": "state",
        "device": "a",
        "from": "online",
        "to": "offline",
        "reason": "status offline",
        "ts": t1.isoformat(),
    }
    assert [u["ts"] for u in out if u["type"] == "health"] == [t1.isoformat()]  # newest only
