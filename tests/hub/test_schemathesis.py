"""Property-based fuzzing of every operation in the hub's own OpenAPI document (schemathesis).

The hub is served by uvicorn on a free loopback port (the lifespan runs: writer thread,
migrations, inference workers) and schemathesis generates valid and invalid requests for
each operation from `app.openapi()`. Three passes, each on a fresh database:

* `admin`: Bearer admin key; path ids are random or the id of an enrolled device;
* `device`: HTTP Basic of an enrolled device, path ids random or its own id;
* `anonymous`: no credentials; apart from the public routes every answer must be a 4xx
  refusal (400/401/403/404/405/422), never a 5xx nor a 2xx.

`not_a_server_error` runs on every response; a failure lists each (operation, status) once
with a curl line to reproduce it. Bounded and reproducible: 25 examples per operation (valid
and invalid; on device paths some aimed at the enrolled device), `derandomize=True`, no
deadline, no shrinking, no example database. About 10-15 s per pass on SQLite.

Schemathesis cannot send what is not JSON (NaN, Infinity) nor tell the two databases apart
by itself, so such cases have their own tests (test_devices, test_api_smoke).
"""

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.errors import FailureGroup

from cloud_hub.core.config import Settings
from cloud_hub.main import create_app
from cloud_hub.serving import served
from contract import WakeWordOutput
from tests.hub.conftest import ADMIN_KEY

MAX_EXAMPLES = 25

# Operations left out of the fuzzing, and why.
EXCLUDED = {
    # Server-sent events: the response never ends, so a request would only time out.
    ("GET", "/api/v1/live"),
    # Publishes over MQTT and waits (up to `timeout_s`) for the device's reply; this hub runs
    # without a broker, so it answers 503 `mqtt_disabled` by design (tests/hub/test_commands).
    ("POST", "/api/v1/devices/{device_id}/commands/{name}"),
    # Publishes `agent-update`: 503 `mqtt_disabled` here by design (tests/hub/test_agent_releases).
    ("POST", "/api/v1/devices/{device_id}/agent-update"),
    # 503 whenever the broker is not connected, which is its purpose (tests/hub/test_ops).
    ("GET", "/readyz"),
}
# Answer without credentials by design (or check their own: enrollment token, broker login).
PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/api/v1/enroll"),
    ("POST", "/api/v1/session"),
    ("GET", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    ("POST", "/api/v1/broker/auth"),
}
# 400 is `malformed_json`: the body is decoded before the credentials are looked at, and a
# body that is not JSON is refused as such (same class as a 422).
REFUSALS = {400, 401, 403, 404, 405, 422}
DEVICE_ID = "fuzz-device-01"


class FakeWakeWord:
    """A stand-in cloud model: inference fuzzing is about the HTTP layer, not the network."""

    version = "fake-1"

    def run(self, payload: bytes) -> WakeWordOutput:
        return WakeWordOutput(
            detected=False, wake_word=None, probability=0.1, duration_s=len(payload) / 32000
        )


def _strategy(operation: Any) -> st.SearchStrategy[Any]:
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    names = {p.name for p in operation.path_parameters}
    if "device_id" in names:  # reach the code behind the 404 too
        strategies.append(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"device_id": DEVICE_ID})
        )
    return st.one_of(strategies)


def _fuzz_operation(
    operation: Any,
    base_url: str,
    headers: dict[str, str],
    anonymous: bool,
    failures: dict[tuple[str, int], str],
) -> None:
    key = (operation.method.upper(), operation.path)
    label = f"{key[0]} {key[1]}"

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=_strategy(operation))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (AssertionError, FailureGroup):
            failures.setdefault(
                (label, response.status_code),
                f"{label} -> {response.status_code}: {response.text[:300]}"
                f"\n    {case.as_curl_command(headers)}",
            )
            return
        if anonymous and key not in PUBLIC and response.status_code not in REFUSALS:
            failures.setdefault(
                (label, response.status_code),
                f"{label} -> {response.status_code} without credentials",
            )

    run()


def fuzz(
    spec: dict[str, Any], base_url: str, headers: dict[str, str], *, anonymous: bool
) -> list[str]:
    """Run every operation; returns one line per failing (operation, status)."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: dict[tuple[str, int], str] = {}
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the hub's own document must be valid
            raise result.err()
        operations.append(result.ok())
    # Deletions last, so that the enrolled device lives through the other operations.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:
        if (operation.method.upper(), operation.path) not in EXCLUDED:
            _fuzz_operation(operation, base_url, headers, anonymous, failures)
    return list(failures.values())


@pytest.mark.long
@pytest.mark.timeout(300)
@pytest.mark.parametrize("who", ["admin", "device", "anonymous"])
async def test_no_server_errors(make_settings: Callable[..., Settings], who: str) -> None:
    settings = make_settings(cloud_models=["wakeword-full"])
    fake = FakeWakeWord()
    app = create_app(settings, pipeline_loader=lambda _model: fake)
    spec = app.openapi()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with served(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=admin) as client:
            token = await client.post("/api/v1/enrollment-tokens", json={"name": "fuzz"})
            assert token.status_code == 201, token.text
            enrolled = await client.post(
                "/api/v1/enroll",
                json={"device_id": DEVICE_ID},
                headers={"Authorization": f"Bearer {token.json()['token']}"},
            )
            assert enrolled.status_code == 201, enrolled.text
        secret = enrolled.json()["device_secret"]
        headers = {
            "admin": admin,
            "device": {
                "Authorization": "Basic "
                + base64.b64encode(f"{DEVICE_ID}:{secret}".encode()).decode()
            },
            "anonymous": {},
        }[who]
        failures = await asyncio.to_thread(
            fuzz, spec, base_url, headers, anonymous=who == "anonymous"
        )
    assert not failures, "\n".join(failures)
