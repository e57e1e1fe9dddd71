"""contract/http.py: the paths clients call are the paths the hub routes."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from cloud_hub.core.config import Settings
from cloud_hub.main import create_app
from contract import http

ON_HUB = pytest.mark.asyncio(loop_scope="module")  # one hub for the module

# (method, absolute path template) of every path a device, the broker or the dashboard calls
CALLED = [
    ("GET", http.HEALTHZ),
    ("GET", http.API_PREFIX + http.OPENAPI),
    ("POST", http.API_PREFIX + http.ENROLL),
    ("POST", http.API_PREFIX + http.ENROLLMENT_TOKENS),
    ("POST", http.API_PREFIX + http.BROKER_AUTH),
    ("POST", http.API_PREFIX + http.INFER),
    ("GET", http.API_PREFIX + http.SIGNING_KEY),
    ("GET", http.API_PREFIX + http.MODEL_ARTIFACT),
    ("PUT", http.API_PREFIX + http.MODEL_REPORT),
    ("GET", http.API_PREFIX + http.AGENT_BUNDLE),
    ("GET", http.API_PREFIX + http.ROUND_WEIGHTS),
    ("POST", http.API_PREFIX + http.ROUND_UPDATES),
    ("POST", http.API_PREFIX + http.ROUND_KEYS),
    ("POST", http.API_PREFIX + http.ROUND_UNMASK),
    ("GET", http.API_PREFIX + http.PEERS),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The hub app with its lifespan (database, registry, rounds); requests carry no
    credentials, so a routed path answers 401 (or 200), an unrouted one 404 or 405."""
    data: Path = tmp_path_factory.mktemp("hub")
    app = create_app(
        Settings(
            database_url=f"sqlite:///{data / 'hub.db'}",
            data_dir=data,
            admin_api_key="efk_test-admin-key-0123456789abcdef",
            mqtt_enabled=False,
            log_json=False,
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client


def _filled(template: str) -> str:
    return template.format(model="engine-fault", version="v1", round_id=7, sha256="0" * 64)


@ON_HUB
@pytest.mark.parametrize(("method", "template"), CALLED, ids=lambda v: str(v))
async def test_the_hub_routes_every_contract_path(
    hub: httpx.AsyncClient, method: str, template: str
) -> None:
    r = await hub.request(method, _filled(template))
    assert r.status_code in (200, 401), (r.status_code, r.text)


@ON_HUB
async def test_an_unrouted_path_is_told_apart(hub: httpx.AsyncClient) -> None:
    assert (await hub.get(http.path("/no/such/route"))).status_code == 404
    assert (await hub.get(http.path(http.ENROLL))).status_code == 405


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (http.path(http.INFER, model="m"), "/api/v1/infer/m"),
        (http.path(http.ENROLL), "/api/v1/enroll"),
        (http.path(http.ROUND_KEYS, round_id=3), "/api/v1/fl/rounds/3/keys"),
        (
            http.path(http.MODEL_ARTIFACT, model="m", version="v1"),
            "/api/v1/models/m/versions/v1/artifact",
        ),
    ],
)
def test_path_puts_the_prefix_and_parameters_in(built: str, expected: str) -> None:
    assert built == expected


def test_path_refuses_a_missing_parameter() -> None:
    with pytest.raises(KeyError, match="model"):
        http.path(http.INFER)
