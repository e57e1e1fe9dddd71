"""Operations endpoints and settings validation."""

import pytest
from pydantic import ValidationError

from cloud_hub.core.config import Settings
from tests.hub.conftest import Hub


async def test_readyz_and_metrics(hub: Hub) -> None:
    r = await hub.client.get("/readyz", headers=hub.admin)
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok"}}
    await hub.enroll("m-1")
    text = (await hub.client.get("/metrics", headers=hub.admin)).text
    assert 'edgefleet_hub_devices{state="offline"} 1.0' in text
    assert (
        'edgefleet_hub_http_requests_total{method="POST",route="/api/v1/enroll",status="201"}'
        in text
    )


async def test_openapi_is_published_to_credentialed_callers(hub: Hub) -> None:
    spec = (await hub.client.get("/api/v1/openapi.json", headers=hub.admin)).json()
    assert "/api/v1/infer/{model}" in spec["paths"]
    assert "/api/v1/enroll" in spec["paths"]


async def test_unknown_route_is_a_json_404(hub: Hub) -> None:
    r = await hub.client.get("/api/v1/nothing-here", headers=hub.admin)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("key", [None, "changethis", "short"])
def test_production_refuses_weak_secrets(key: str | None) -> None:
    with pytest.raises(ValidationError, match="EDGEFLEET_ADMIN_API_KEY"):
        Settings(
            environment="production",
            admin_api_key=key,  # type: ignore[arg-type]
            mqtt_password="a-long-enough-mqtt-password",
        )


def test_production_accepts_strong_secrets() -> None:
    s = Settings(
        environment="production",
        admin_api_key="k" * 32,  # type: ignore[arg-type]
        mqtt_password="p" * 32,
    )  # type: ignore[arg-type]
    assert s.sqlalchemy_url.startswith("sqlite:///")
