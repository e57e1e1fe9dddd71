"""Credentials: nothing but /healthz without them; roles; devices confined to themselves."""

from typing import Any

import pytest

from tests.hub.conftest import Hub, basic


def _routes(hub: Hub) -> list[tuple[str, str]]:
    out = [("GET", "/api/v1/openapi.json")]
    for template, methods in hub.app.openapi()["paths"].items():
        path = (
            template.replace("{device_id}", "some-dev")
            .replace("{token_id}", "1")
            .replace("{key_id}", "1")
            .replace("{model}", "face-detect-full")
        )
        out += [(m.upper(), path) for m in sorted(methods)]
    return out


async def test_every_route_but_healthz_needs_credentials(hub: Hub) -> None:
    routes = _routes(hub)
    assert len(routes) > 25
    for method, path in routes:
        r = await hub.client.request(method, path)
        if path == "/healthz":
            assert r.status_code == 200
            continue
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "missing_credentials"
        assert "WWW-Authenticate" in r.headers
    r = await hub.client.get("/api/v1/devices", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"


async def _viewer(hub: Hub) -> dict[str, str]:
    r = await hub.client.post(
        "/api/v1/api-keys", headers=hub.admin, json={"name": "dashboard", "role": "viewer"}
    )
    assert r.status_code == 201
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def test_viewer_reads_but_cannot_write(hub: Hub) -> None:
    await hub.enroll("cam-1")
    viewer = await _viewer(hub)
    for path in (
        "/api/v1/devices",
        "/api/v1/devices/cam-1",
        "/api/v1/fleet/summary",
        "/metrics",
        "/readyz",
        "/api/v1/openapi.json",
        "/api/v1/devices/cam-1/health/history",
    ):
        assert (await hub.client.get(path, headers=viewer)).status_code == 200, path
    writes: list[tuple[str, str, Any]] = [
        ("POST", "/api/v1/devices", {"id": "x"}),
        ("PATCH", "/api/v1/devices/cam-1", {"site": "x"}),
        ("DELETE", "/api/v1/devices/cam-1", None),
        ("POST", "/api/v1/enrollment-tokens", {"name": "t"}),
        ("POST", "/api/v1/api-keys", {"name": "k"}),
        ("PUT", "/api/v1/devices/cam-1/service", {"service_id": "s", "address": "a"}),
    ]
    for method, path, body in writes:
        r = await hub.client.request(method, path, headers=viewer, json=body)
        assert r.status_code == 403, (method, path)
        assert r.json()["error"]["code"] == "forbidden"


async def test_revoked_api_key_stops_working(hub: Hub) -> None:
    viewer = await _viewer(hub)
    keys = (await hub.client.get("/api/v1/api-keys", headers=hub.admin)).json()
    await hub.client.delete(f"/api/v1/api-keys/{keys[0]['id']}", headers=hub.admin)
    assert (await hub.client.get("/api/v1/devices", headers=viewer)).status_code == 401


async def test_device_cannot_act_as_another_device_or_admin(hub: Hub) -> None:
    a = await hub.enroll("dev-a")
    await hub.enroll("dev-b")
    me = basic("dev-a", a["device_secret"])
    assert (await hub.client.get("/api/v1/devices/dev-a", headers=me)).status_code == 200
    for method, path, body in [
        ("GET", "/api/v1/devices/dev-b", None),
        ("GET", "/api/v1/devices/dev-b/results", None),
        ("PUT", "/api/v1/devices/dev-b/service", {"service_id": "s", "address": "a"}),
        ("GET", "/api/v1/devices", None),
        ("PATCH", "/api/v1/devices/dev-a", {"site": "x"}),
        ("DELETE", "/api/v1/devices/dev-b", None),
        ("POST", "/api/v1/enrollment-tokens", {"name": "t"}),
        ("POST", "/api/v1/api-keys", {"name": "k", "role": "admin"}),
        ("GET", "/metrics", None),
    ]:
        r = await hub.client.request(method, path, headers=me, json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert (await hub.client.get("/api/v1/devices/dev-b", headers=hub.admin)).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        basic("dev-a", "efd_wrong"),
        basic("nobody", "x"),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic ZGV2LWE="},  # "dev-a" without a colon
    ],
)
async def test_bad_device_credentials(hub: Hub, header: dict[str, str]) -> None:
    await hub.enroll("dev-a")
    r = await hub.client.get("/api/v1/whoami", headers=header)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"


async def test_rotated_secret_replaces_the_old_one(hub: Hub) -> None:
    old = await hub.enroll("dev-r")
    r = await hub.client.post("/api/v1/devices/dev-r/secret", headers=hub.admin)
    new = r.json()["device_secret"]
    assert new != old["device_secret"]
    assert (
        await hub.client.get("/api/v1/whoami", headers=basic("dev-r", old["device_secret"]))
    ).status_code == 401
    assert (await hub.client.get("/api/v1/whoami", headers=basic("dev-r", new))).status_code == 200
