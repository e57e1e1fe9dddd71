"""Smoke: the app starts on each database and answers /healthz; out-of-range ids."""

import pytest

from tests.hub.conftest import Hub, basic


async def test_healthz_needs_no_credentials(hub: Hub) -> None:
    r = await hub.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/deployments/{id}"),
        ("POST", "/api/v1/deployments/{id}/rollback"),
        ("GET", "/api/v1/fl/rounds/{id}"),
        ("GET", "/api/v1/fl/rounds/{id}/updates"),
        ("GET", "/api/v1/fl/rounds/{id}/weights"),
    ],
)
async def test_row_ids_beyond_32_bits_are_422(hub: Hub, method: str, path: str) -> None:
    """Found by schemathesis: an id beyond the INTEGER columns overflowed in the driver."""
    r = await hub.client.request(method, path.format(id=2**31), headers=hub.admin)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    r = await hub.client.request(method, path.format(id=2**31 - 1), headers=hub.admin)
    assert r.status_code == 404, r.text


async def test_device_paths_with_huge_round_ids_are_422(hub: Hub) -> None:
    creds = await hub.enroll("cam-1")
    device = basic("cam-1", creds["device_secret"])
    r = await hub.client.post(
        f"/api/v1/fl/rounds/{2**70}/keys", headers=device, json={"public_key": "AAAA"}
    )
    assert r.status_code == 422, r.text
    # wrong credentials on an upload are recorded against the round, unless its id is absurd
    for round_id in (str(2**70), "\u00b2"):
        r = await hub.client.post(
            f"/api/v1/fl/rounds/{round_id}/updates", content=b"x", headers=basic("cam-1", "wrong")
        )
        assert r.status_code in (401, 422), r.text


@pytest.mark.parametrize("body", [{"seed": -1}, {"deadline_s": 1e300}])
async def test_bad_round_config_is_422_and_starts_nothing(hub: Hub, body: dict[str, float]) -> None:
    """Found by schemathesis: a negative `seed` reached numpy's generator, a huge `deadline_s`
    overflowed `timedelta` (both 500)."""
    r = await hub.client.post("/api/v1/fl/rounds", headers=hub.admin, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    r = await hub.client.get("/api/v1/fl/rounds", headers=hub.admin)
    assert r.status_code == 200, r.text
    assert r.json() in ([], {"items": [], "total": 0, "next_cursor": None})


async def test_model_report_beyond_its_columns_is_422_and_stores_nothing(hub: Hub) -> None:
    """Found by schemathesis: a `version` over String(64) or a `seq` / `deployment_id` over
    INTEGER was refused by PostgreSQL with a 500 (SQLite stored it)."""
    creds = await hub.enroll("cam-1")
    device = basic("cam-1", creds["device_secret"])
    url = "/api/v1/models/face-detect/devices/self"
    for body in (
        {"version": "v" * 65, "state": "running"},
        {"version": "1", "seq": 2**31, "state": "running"},
        {"version": "1", "deployment_id": 2**31, "state": "refused"},
        {"version": "1", "refused_version": "x" * 65, "state": "refused"},
    ):
        r = await hub.client.put(url, headers=device, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    r = await hub.client.get("/api/v1/models/face-detect/devices", headers=hub.admin)
    assert r.status_code == 200, r.text
    assert r.json() == []
    r = await hub.client.put(
        url, headers=device, json={"version": "1", "seq": 1, "state": "running"}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "metrics", ['{"loss": "a\\u0000b"}', '{"loss": NaN}', '{"x": 1e999}', "[" * 1990]
)
async def test_update_metrics_postgres_cannot_store_are_dropped(hub: Hub, metrics: str) -> None:
    """`X-Edgefleet-Metrics` is stored as JSON with the (here refused) update: a NUL or a
    non-finite number (both accepted by Python's json) made PostgreSQL refuse the row, and
    deep nesting overflowed the parser (500)."""
    creds = await hub.enroll("cam-1")
    r = await hub.client.post(
        "/api/v1/fl/rounds", headers=hub.admin, json={"devices": ["cam-1"], "min_clients": 1}
    )
    assert r.status_code == 201, r.text
    r = await hub.client.post(
        f"/api/v1/fl/rounds/{r.json()['id']}/updates",
        content=b"junk",
        headers={**basic("cam-1", creds["device_secret"]), "X-Edgefleet-Metrics": metrics},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "malformed"
