"""Enrollment: tokens (single/multi-use, expiry, revocation) and device credentials."""

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from cloud_hub.core import security
from cloud_hub.core.clock import utcnow
from cloud_hub.db import tables as t
from tests.hub.conftest import Hub, basic


async def _token(hub: Hub, **body: object) -> dict[str, object]:
    r = await hub.client.post(
        "/api/v1/enrollment-tokens", headers=hub.admin, json={"name": "batch", **body}
    )
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


async def _enroll(hub: Hub, token: object, **body: object) -> tuple[int, dict[str, object]]:
    r = await hub.client.post(
        "/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return r.status_code, r.json()


async def _device_count(hub: Hub) -> int:
    r = await hub.client.get("/api/v1/devices", headers=hub.admin)
    total: int = r.json()["total"]
    return total


async def test_enroll_returns_working_credentials_and_token_defaults(hub: Hub) -> None:
    tok = await _token(hub, site="lab", tags=["cam"], metadata={"owner": "ops"})
    status, body = await _enroll(
        hub,
        tok["token"],
        device_id="cam-1",
        hardware="rpi5",
        agent_version="0.1.0",
        capabilities=["face-detect-lite"],
        tags=["kitchen"],
    )
    assert status == 201, body
    assert body["device_id"] == "cam-1"
    assert body["mqtt"]["username"] == "cam-1"  # type: ignore[index]
    device = body["device"]
    assert device["site"] == "lab"
    assert device["tags"] == ["cam", "kitchen"]
    assert device["capabilities"] == ["face-detect-lite"]  # type: ignore[index]
    who = await hub.client.get("/api/v1/whoami", headers=basic("cam-1", str(body["device_secret"])))
    assert who.json() == {"role": "device", "name": "cam-1", "device_id": "cam-1"}


async def test_device_secret_is_stored_hashed(hub: Hub) -> None:
    creds = await hub.enroll("cam-2")
    with hub.app.state.db.session(write=False) as s:
        stored = s.scalar(select(t.Device.secret_hash).where(t.Device.id == "cam-2"))
    assert stored != creds["device_secret"]
    assert stored == security.digest(creds["device_secret"])


async def test_enroll_without_device_id_generates_one(hub: Hub) -> None:
    tok = await _token(hub)
    status, body = await _enroll(hub, tok["token"])
    assert status == 201
    assert str(body["device_id"]).startswith("dev-")


async def test_single_use_token_cannot_be_reused(hub: Hub) -> None:
    tok = await _token(hub)
    assert (await _enroll(hub, tok["token"], device_id="a"))[0] == 201
    status, body = await _enroll(hub, tok["token"], device_id="b")
    assert status == 401
    assert body["error"]["code"] == "token_used"  # type: ignore[index]
    assert await _device_count(hub) == 1


async def test_multi_use_token_allows_exactly_max_uses(hub: Hub) -> None:
    tok = await _token(hub, max_uses=3)
    codes = [(await _enroll(hub, tok["token"], device_id=f"d{i}"))[0] for i in range(4)]
    assert codes == [201, 201, 201, 401]
    listed = await hub.client.get("/api/v1/enrollment-tokens", headers=hub.admin)
    assert listed.json()[0]["uses"] == 3


async def test_unlimited_token_until_expiry(hub: Hub) -> None:
    tok = await _token(hub, max_uses=None)
    codes = [(await _enroll(hub, tok["token"], device_id=f"u{i}"))[0] for i in range(5)]
    assert codes == [201] * 5


async def test_concurrent_enrollments_race_for_single_use_token(hub: Hub) -> None:
    tok = await _token(hub)
    results = await asyncio.gather(
        *(_enroll(hub, tok["token"], device_id=f"race-{i}") for i in range(6))
    )
    assert sorted(code for code, _ in results) == [201] + [401] * 5
    assert await _device_count(hub) == 1


async def test_expired_token_is_refused(hub: Hub) -> None:
    tok = await _token(hub)
    with hub.app.state.db.session(write=True) as s:
        s.execute(update(t.EnrollmentToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    status, body = await _enroll(hub, tok["token"], device_id="late")
    assert status == 401
    assert body["error"]["code"] == "token_expired"  # type: ignore[index]
    assert await _device_count(hub) == 0


async def test_revoked_and_unknown_tokens_are_refused(hub: Hub) -> None:
    tok = await _token(hub)
    r = await hub.client.delete(f"/api/v1/enrollment-tokens/{tok['id']}", headers=hub.admin)
    assert r.json()["revoked"] is True
    assert (await _enroll(hub, tok["token"]))[1]["error"]["code"] == "token_revoked"  # type: ignore[index]
    assert (await _enroll(hub, "eft_nope"))[1]["error"]["code"] == "invalid_token"  # type: ignore[index]
    r = await hub.client.post("/api/v1/enroll", json={})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_credentials"


async def test_taken_device_id_conflicts_without_using_the_token(hub: Hub) -> None:
    await hub.enroll("dup")
    tok = await _token(hub)
    status, body = await _enroll(hub, tok["token"], device_id="dup")
    assert status == 409
    assert body["error"]["code"] == "device_exists"  # type: ignore[index]
    listed = (await hub.client.get("/api/v1/enrollment-tokens", headers=hub.admin)).json()
    assert [x["uses"] for x in listed if x["id"] == tok["id"]] == [0]
    assert (await _enroll(hub, tok["token"], device_id="fresh"))[0] == 201


async def test_bad_enrollment_bodies_are_clear_errors(hub: Hub) -> None:
    tok = await _token(hub, max_uses=None)
    headers = {"Authorization": f"Bearer {tok['token']}"}
    r = await hub.client.post(
        "/api/v1/enroll",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"
    r = await hub.client.post("/api/v1/enroll", json={"device_id": "Bad Id!"}, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    r = await hub.client.post("/api/v1/enroll", json={"capabilities": "x"}, headers=headers)
    assert r.status_code == 422
    r = await hub.client.post("/api/v1/enroll", json={"colour": "red"}, headers=headers)
    assert r.status_code == 422
    assert await _device_count(hub) == 0


async def test_out_of_range_numbers_are_422_not_500(hub: Hub) -> None:
    """Found by schemathesis: `max_uses` above a 32-bit INTEGER and path ids above it
    overflowed in the driver (500 on PostgreSQL and SQLite)."""
    r = await hub.client.post(
        "/api/v1/enrollment-tokens", headers=hub.admin, json={"name": "big", "max_uses": 2**31}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert (await hub.client.get("/api/v1/enrollment-tokens", headers=hub.admin)).json() == []
    for path in ("/api/v1/enrollment-tokens/", "/api/v1/api-keys/"):
        r = await hub.client.delete(f"{path}{2**31}", headers=hub.admin)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"]["code"] == "validation_error"
