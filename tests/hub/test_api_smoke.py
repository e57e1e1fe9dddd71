"""Smoke: the app starts on each database and answers /healthz."""

from tests.hub.conftest import Hub


async def test_healthz_needs_no_credentials(hub: Hub) -> None:
    r = await hub.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
