"""Operations endpoints and settings validation."""

import asyncio
import gc
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from cloud_hub.core.config import Settings
from tests.hub.conftest import Hub, running_hub


async def test_readyz_and_metrics(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(cloud_models=["engine-fault-cloud"])
    async for hub in running_hub(settings):
        assert await _settled(hub) == {"database": "ok", "model engine-fault-cloud": "ok"}
        r = await hub.client.get("/readyz", headers=hub.admin)
        assert (r.status_code, r.json()["status"]) == (200, "ready")
        await hub.enroll("m-1")
        text = (await hub.client.get("/metrics", headers=hub.admin)).text
        assert gc.get_freeze_count() > 0  # start-up objects out of the collector's reach ...
    # ... until the hub stops: a process running one hub after another (this suite) kept each
    assert gc.get_freeze_count() == 0  # one's pipelines and routes, 20 GB by its end
    assert 'edgefleet_hub_devices{state="offline"} 1.0' in text
    assert (
        'edgefleet_hub_http_requests_total{method="POST",route="/api/v1/enroll",status="201"}'
        in text
    )


async def test_not_ready_until_every_cloud_model_loaded(
    make_settings: Callable[..., Settings],
) -> None:
    """A balancer must not send a device's first offload to a hub still loading its models:
    /readyz is 503 meanwhile, and stays 503 naming the model whose load failed."""
    release = threading.Event()

    def loader(model: str) -> Any:
        if model == "broken-model":
            raise OSError("no such file")
        release.wait(10)
        return object()

    settings = make_settings(cloud_models=["slow-model", "broken-model"])
    async for hub in running_hub(settings, pipeline_loader=loader):
        r = await hub.client.get("/readyz", headers=hub.admin)
        assert r.status_code == 503
        assert r.json()["checks"]["model slow-model"] == "loading"
        release.set()
        checks = await _settled(hub)
        assert checks["model slow-model"] == "ok"
        assert checks["model broken-model"] == "error: OSError"  # the documented names
        assert (await hub.client.get("/readyz", headers=hub.admin)).status_code == 503


async def _settled(hub: Hub) -> dict[str, str]:
    """The checks once no model is loading any more."""
    async with asyncio.timeout(10):
        while True:
            checks: dict[str, str] = (await hub.client.get("/readyz", headers=hub.admin)).json()[
                "checks"
            ]
            if "loading" not in checks.values():
                return checks
            await asyncio.sleep(0.01)


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
