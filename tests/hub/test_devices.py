"""Device registry: CRUD, service records, filtering and keyset paging."""

from typing import Any

import pytest

from tests.hub.conftest import Hub, basic

DEVICES = "/api/v1/devices"


async def _create(hub: Hub, device_id: str, **body: Any) -> dict[str, Any]:
    r = await hub.client.post(DEVICES, headers=hub.admin, json={"id": device_id, **body})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_create_get_update_delete(hub: Hub) -> None:
    creds = await _create(
        hub,
        "gw-1",
        name="Gateway",
        site="plant-a",
        tags=["gw", "gw"],
        metadata={"rack": 3},
        hardware="rpi4",
        agent_version="0.1.0",
        capabilities=["face-detect-lite", "wakeword-lite"],
    )
    assert creds["device_secret"].startswith("efd_")
    got = (await hub.client.get(f"{DEVICES}/gw-1", headers=hub.admin)).json()
    assert got["tags"] == ["gw"]
    assert got["metadata"] == {"rack": 3}
    assert got["health"]["state"] == "offline"
    assert got["health"]["reason"] == "never connected"

    r = await hub.client.patch(
        f"{DEVICES}/gw-1",
        headers=hub.admin,
        json={"site": "plant-b", "tags": ["x"], "capabilities": []},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["site"], r.json()["tags"], r.json()["capabilities"]) == ("plant-b", ["x"], [])
    assert r.json()["name"] == "Gateway"  # untouched by a partial update

    assert (await hub.client.delete(f"{DEVICES}/gw-1", headers=hub.admin)).status_code == 204
    r = await hub.client.get(f"{DEVICES}/gw-1", headers=hub.admin)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_device"
    who = await hub.client.get("/api/v1/whoami", headers=basic("gw-1", creds["device_secret"]))
    assert who.status_code == 401


async def test_unknown_device_and_bad_ids(hub: Hub) -> None:
    for method in ("get", "delete"):
        r = await getattr(hub.client, method)(f"{DEVICES}/nope", headers=hub.admin)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "unknown_device"
    r = await hub.client.patch(f"{DEVICES}/nope", headers=hub.admin, json={"site": "x"})
    assert r.status_code == 404
    r = await hub.client.get(f"{DEVICES}/BAD%20ID", headers=hub.admin)
    assert r.status_code == 422


async def test_create_rejects_bad_input_without_writing(hub: Hub) -> None:
    cases: list[Any] = [
        {"id": "ok-1", "tags": "not-a-list"},
        {"id": "ok-1", "metadata": {"blob": "x" * 20000}},
        {"id": "ok-1", "capabilities": ["bad model!"]},
        {"id": "UPPER"},
        {"id": "ok-1", "unexpected": 1},
        [],
    ]
    for body in cases:
        r = await hub.client.post(DEVICES, headers=hub.admin, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    r = await hub.client.post(
        DEVICES, headers={**hub.admin, "content-type": "application/json"}, content=b'{"id": "x",'
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"
    assert (await hub.client.get(DEVICES, headers=hub.admin)).json()["total"] == 0
    await _create(hub, "ok-1")
    r = await hub.client.post(DEVICES, headers=hub.admin, json={"id": "ok-1"})
    assert r.status_code == 409


async def test_oversized_body_is_413(make_settings: Any) -> None:
    from tests.hub.conftest import running_hub

    async for hub in running_hub(make_settings(max_body_bytes=2048)):
        r = await hub.client.post(
            DEVICES, headers=hub.admin, json={"id": "big", "metadata": {"x": "y" * 4000}}
        )
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"

        async def chunks() -> Any:  # no Content-Length: the limit still holds
            for _ in range(5):
                yield b" " * 1000

        r = await hub.client.post(
            DEVICES, headers={**hub.admin, "content-type": "application/json"}, content=chunks()
        )
        assert r.status_code == 413
        assert (await hub.client.get(DEVICES, headers=hub.admin)).json()["total"] == 0


async def test_service_registration_by_device_itself(hub: Hub) -> None:
    me = await hub.enroll("svc-1")
    other = await hub.enroll("svc-2")
    record = {
        "service_id": "vision",
        "address": "http://10.0.0.5:8080",
        "metadata": {"version": "1.2", "weight": 3},
    }
    r = await hub.client.put(
        f"{DEVICES}/svc-1/service", json=record, headers=basic("svc-1", me["device_secret"])
    )
    assert r.status_code == 200, r.text
    assert r.json()["service"] == record
    r = await hub.client.put(
        f"{DEVICES}/svc-1/service", json=record, headers=basic("svc-2", other["device_secret"])
    )
    assert r.status_code == 403
    # health drives the registry: an offline device is not offered by default
    r = await hub.client.get("/api/v1/services", headers=hub.admin, params={"service_id": "vision"})
    assert r.json() == []
    r = await hub.client.get(
        "/api/v1/services", headers=hub.admin, params={"service_id": "vision", "healthy": "false"}
    )
    assert [s["device_id"] for s in r.json()] == ["svc-1"]
    r = await hub.client.delete(
        f"{DEVICES}/svc-1/service", headers=basic("svc-1", me["device_secret"])
    )
    assert r.json()["service"] is None


@pytest.fixture
async def fleet(hub: Hub) -> Hub:
    for i in range(25):
        await _create(
            hub,
            f"dev-{i:02d}",
            name=f"Camera {i}",
            site="north" if i % 2 else "south",
            tags=["cam", *(["outdoor"] if i % 5 == 0 else [])],
            capabilities=["face-detect-lite"] if i < 10 else ["wakeword-lite"],
        )
    return hub


async def test_keyset_paging_visits_every_device_once(fleet: Hub) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = (await fleet.client.get(DEVICES, headers=fleet.admin, params=params)).json()
        assert page["total"] == 25
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"dev-{i:02d}" for i in range(25)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"site": "north"}, 12),
        ({"tag": "outdoor"}, 5),
        ({"tag": ["outdoor", "cam"]}, 5),
        ({"tag": "nothing"}, 0),
        ({"capability": "face-detect-lite"}, 10),
        ({"capability": "wakeword-lite", "site": "south"}, 8),
        ({"state": "offline"}, 25),
        ({"state": "online"}, 0),
        ({"q": "dev-1"}, 10),
        ({"q": "camera 2"}, 6),
    ],
)
async def test_filters(fleet: Hub, params: dict[str, Any], expected: int) -> None:
    r = await fleet.client.get(DEVICES, headers=fleet.admin, params={**params, "limit": 100})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == expected
    assert len(r.json()["items"]) == expected


async def test_bad_filter_values(fleet: Hub) -> None:
    for params in ({"state": "sleeping"}, {"limit": 0}, {"limit": 5000}):
        r = await fleet.client.get(DEVICES, headers=fleet.admin, params=params)
        assert r.status_code == 422, params


async def test_nul_characters_are_422_and_write_nothing(hub: Hub) -> None:
    """Found by schemathesis: PostgreSQL refuses NUL in text and jsonb, so a NUL in a body
    (values or keys of free-form objects) or in a query parameter was a 500 there; so was a
    NaN / Infinity in JSON metadata (Python's json parser accepts them). Deeply nested
    metadata was stored and then failed to serialize in the answer (a 500 after the write)."""
    await _create(hub, "cam-1", name="before")
    for body in (
        {"name": "a\x00b"},
        {"metadata": {"k\x00": 1}},
        {"metadata": {"k": ["x", {"y": "\x00"}]}},
    ):
        r = await hub.client.patch(f"{DEVICES}/cam-1", headers=hub.admin, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    r = await hub.client.put(
        f"{DEVICES}/cam-1/service",
        headers=hub.admin,
        json={"service_id": "svc\x00", "address": "10.0.0.1:80"},
    )
    assert r.status_code == 422, r.text
    r = await hub.client.put(
        f"{DEVICES}/cam-1/twin/desired", headers=hub.admin, json={"state": {"\x00": 1}}
    )
    assert r.status_code == 422, r.text
    for raw in (
        b'{"metadata": {"x": NaN}}',
        b'{"metadata": {"x": [1e999]}}',
        b'{"name": "ok", "metadata": {"x": -Infinity}}',
    ):
        r = await hub.client.patch(
            f"{DEVICES}/cam-1",
            headers={**hub.admin, "content-type": "application/json"},
            content=raw,
        )
        assert r.status_code == 422, (raw, r.text)
        assert "finite" in r.json()["error"]["message"]
    deep = b'{"metadata": {"x": ' + b"[" * 900 + b"]" * 900 + b"}}"
    r = await hub.client.patch(
        f"{DEVICES}/cam-1", headers={**hub.admin, "content-type": "application/json"}, content=deep
    )
    assert r.status_code in (400, 422), r.text  # not a RecursionError in a validator
    device = (await hub.client.get(f"{DEVICES}/cam-1", headers=hub.admin)).json()
    assert device["name"] == "before"
    assert device["metadata"] == {}
    assert device["service"] is None
    for params in ({"q": "a\x00"}, {"site": "\x00"}, {"tag": "x\x00"}):
        r = await hub.client.get(DEVICES, headers=hub.admin, params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["code"] == "validation_error"


async def test_health_history_since_far_future_is_empty_not_500(hub: Hub) -> None:
    """Found by schemathesis: the roll-up `minute` of a `since` in year 9195 overflowed the
    Integer column on PostgreSQL (500)."""
    await _create(hub, "cam-1")
    for resolution in ("minute", "raw"):
        r = await hub.client.get(
            f"{DEVICES}/cam-1/health/history",
            headers=hub.admin,
            params={"resolution": resolution, "since": "9195-05-27T21:57:46Z"},
        )
        assert r.status_code == 200, (resolution, r.text)
        assert r.json() == []
