"""Dashboard sessions across hub replicas: two real `edgefleet hub` processes on one PostgreSQL
database, as `deploy/compose` runs them (API replicas without the MQTT bridge) behind a
TLS-terminating proxy. The test plays the proxy: requests come from 127.0.0.1 (trusted by
default) with `X-Forwarded-Proto: https` and the public host, and the browser's https `Origin`.

Signed in on A, the cookie works on B (reads; writes with the CSRF token, 403 without); a key
revoked on A ends its session on B at once; the session survives a restart of A; signed out on
B, A refuses the cookie; and the sessions table holds neither keys nor session ids."""

from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from cloud_hub.api.routes.session import COOKIE
from cloud_hub.core import security
from edgefleet.procs.hub import ADMIN_KEY, HubProcess

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.timeout(240)]
PUBLIC_HOST = "hub.example.test"
ORIGIN = f"https://{PUBLIC_HOST}"
SESSION, DEVICES, WHOAMI = "/api/v1/session", "/api/v1/devices", "/api/v1/whoami"


def _replica(workdir: Path, database_url: str) -> HubProcess:
    return HubProcess(
        workdir,
        mqtt_port=1883,  # unused: API replicas hold no MQTT connection
        cloud_models=(),
        extra_env={"EDGEFLEET_MQTT_ENABLED": "false", "EDGEFLEET_DATABASE_URL": database_url},
    )


@pytest.fixture
def replicas(postgres_database: str, tmp_path: Path) -> Iterator[tuple[HubProcess, HubProcess]]:
    a, b = _replica(tmp_path / "a", postgres_database), _replica(tmp_path / "b", postgres_database)
    try:
        a.start(timeout=90)
        b.start(timeout=90)
        yield a, b
    finally:
        a.terminate()
        b.terminate()


def _via_proxy(
    hub: HubProcess,
    method: str,
    path: str,
    *,
    sid: str | None = None,
    csrf: str | None = None,
    key: str | None = None,
    json: object = None,
) -> httpx.Response:
    """A request as the TLS proxy forwards it to `hub` (the cookie sent by hand: it is
    `Secure`, so a cookie jar would keep it off this plain-http hop)."""
    headers = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    if method not in ("GET", "HEAD"):
        headers["Origin"] = ORIGIN
    if sid is not None:
        headers["Cookie"] = f"{COOKIE}={sid}"
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.request(method, hub.url + path, headers=headers, json=json, timeout=10)


def _sign_in(hub: HubProcess, key: str) -> tuple[str, str]:
    """Sign in through the proxy; the session id from the `Secure` cookie and the CSRF token."""
    r = _via_proxy(hub, "POST", SESSION, key=key)
    assert r.status_code == 200, r.text
    jar: SimpleCookie = SimpleCookie()
    jar.load(r.headers["set-cookie"])
    assert jar[COOKIE]["secure"]
    assert jar[COOKIE]["httponly"]
    return jar[COOKIE].value, str(r.json()["csrf_token"])


@pytest.mark.long  # make test-long: make test is over its 15-minute budget on this machine
def test_a_session_works_on_every_replica_and_survives_a_restart(
    replicas: tuple[HubProcess, HubProcess], postgres_database: str
) -> None:
    a, b = replicas
    sid, csrf = _sign_in(a, ADMIN_KEY)
    assert _via_proxy(b, "GET", DEVICES, sid=sid).status_code == 200
    assert _via_proxy(b, "GET", WHOAMI, sid=sid).json()["name"] == "bootstrap"
    made = _via_proxy(b, "POST", DEVICES, sid=sid, csrf=csrf, json={"id": "cam-1"})
    assert made.status_code == 201, made.text
    forged = _via_proxy(b, "POST", DEVICES, sid=sid, json={"id": "cam-2"})
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_failed"

    # a viewer key: its session, opened on B, dies on B when the key is revoked on A
    created = _via_proxy(a, "POST", "/api/v1/api-keys", key=ADMIN_KEY, json={"name": "wall"})
    assert created.status_code == 201, created.text
    viewer_id, viewer_key = created.json()["id"], created.json()["key"]
    viewer_sid, _ = _sign_in(b, viewer_key)
    assert _via_proxy(a, "GET", WHOAMI, sid=viewer_sid).json()["role"] == "viewer"
    revoked = _via_proxy(a, "DELETE", f"/api/v1/api-keys/{viewer_id}", key=ADMIN_KEY)
    assert revoked.status_code == 200, revoked.text
    assert _via_proxy(b, "GET", DEVICES, sid=viewer_sid).status_code == 401

    # nothing a stolen database copy could sign in with
    engine = create_engine(postgres_database)
    with engine.connect() as conn:
        rows = repr(conn.execute(text("SELECT * FROM dashboard_sessions")).all())
    engine.dispose()
    assert security.digest(sid) in rows
    for secret in (ADMIN_KEY, viewer_key, security.digest(ADMIN_KEY), sid, viewer_sid):
        assert secret not in rows

    a.terminate()
    a.start(timeout=90)
    assert _via_proxy(a, "GET", DEVICES, sid=sid).status_code == 200

    assert _via_proxy(b, "DELETE", SESSION, sid=sid, csrf=csrf).status_code == 204
    assert _via_proxy(a, "GET", DEVICES, sid=sid).status_code == 401
    assert _via_proxy(b, "GET", DEVICES, sid=sid).status_code == 401
