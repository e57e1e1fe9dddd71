"""The hub behind a TLS-terminating proxy (a real `edgefleet hub` process, uvicorn's own
server): dashboard sign-in with `Origin: https://...` passes the CSRF origin check and gets a
`Secure` cookie when the request comes from a proxy listed in `EDGEFLEET_FORWARDED_ALLOW_IPS`,
and is refused when the same headers come from anyone else."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgefleet.procs.hub import ADMIN_KEY, HubProcess
from tests.fixtures.brokers import BrokerProcess

pytestmark = pytest.mark.timeout(90)
SIGN_IN = "/api/v1/session"


@pytest.fixture(params=["127.0.0.1", "10.9.9.9"], ids=["proxy-trusted", "proxy-not-trusted"])
def hub(
    request: pytest.FixtureRequest, tmp_path: Path, amqtt_broker: BrokerProcess
) -> Iterator[tuple[HubProcess, bool]]:
    allowed = str(request.param)
    proc = HubProcess(
        tmp_path / "hub",
        amqtt_broker.port,
        cloud_models=(),
        extra_env={"EDGEFLEET_FORWARDED_ALLOW_IPS": allowed},
    )
    proc.start()
    try:
        yield proc, allowed == "127.0.0.1"  # the test's requests come from 127.0.0.1
    finally:
        proc.terminate()


def test_sign_in_through_a_tls_proxy(hub: tuple[HubProcess, bool]) -> None:
    proc, trusted = hub
    host = "hub.example.test"
    headers = {
        "Authorization": f"Bearer {ADMIN_KEY}",
        "Host": host,
        "Origin": f"https://{host}",  # what the browser sends: the proxy's https origin
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.7",
    }
    r = httpx.post(f"{proc.url}{SIGN_IN}", headers=headers, timeout=10)
    if trusted:
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie
        assert "httponly" in cookie
    else:  # the forwarded scheme is not believed: the https origin is not this http hub
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "csrf_failed"
    # without the proxy's headers a plain http sign-in from the hub's own origin works either way
    plain = {"Authorization": f"Bearer {ADMIN_KEY}", "Origin": proc.url}
    r = httpx.post(f"{proc.url}{SIGN_IN}", headers=plain, timeout=10)
    assert r.status_code == 200, r.text
    assert "secure" not in r.headers["set-cookie"].lower()
