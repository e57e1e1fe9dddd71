"""nginx in front of hub replicas, as docs/deploy-production.md sets it up: Debian's nginx with
`edgefleet proxy`'s configuration, one ingest replica (MQTT) and two API replicas on one
PostgreSQL, all real processes. Reads spread over every replica, writes reach the ingest one,
the live stream (SSE) flows through the proxy, a dashboard sign-in works on every replica, and
a SIGKILLed API replica costs no request."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from contract import Status, Topics, encode
from contract.http import DEVICES, path
from deploy.proxy.cli import COMPOSE
from deploy.proxy.nginx import LIVE, SESSION, render
from edgefleet.procs import HubProcess
from edgefleet.procs.nginx import nginx
from edgefleet.procs.wait import wait_until
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.fixtures.replicas import leading, metrics_text

ROOT = Path(__file__).resolve().parents[2]


def test_the_compose_configuration_is_the_generated_one() -> None:
    conf = ROOT / "deploy/compose/nginx/nginx.conf"
    assert conf.read_text() == render(COMPOSE), "regenerate it with `edgefleet proxy` (cli.py)"


def served(hub: HubProcess, method: str, route: str) -> float:
    """How many `method route` requests this replica answered (its own /metrics)."""
    text = metrics_text(hub)
    pattern = re.compile(
        rf'^edgefleet_hub_http_requests_total\{{[^}}]*method="{method}"[^}}]*'
        rf'route="{re.escape(route)}"[^}}]*\}} (\S+)$',
        re.MULTILINE,
    )
    return sum(float(n) for n in pattern.findall(text))


@pytest.fixture
def stack(
    postgres_database: str, mosquitto_broker: BrokerProcess, tmp_path: Path
) -> Iterator[tuple[HubProcess, list[HubProcess], str]]:
    """(ingest replica, API replicas, proxy URL)."""
    env = {"EDGEFLEET_DATABASE_URL": postgres_database}
    ingest = HubProcess(tmp_path / "ingest", mosquitto_broker.port, cloud_models=(), extra_env=env)
    apis = [
        HubProcess(
            tmp_path / f"api-{i}",
            mosquitto_broker.port,
            cloud_models=(),
            extra_env={**env, "EDGEFLEET_MQTT_ENABLED": "false"},
        )
        for i in range(2)
    ]
    with ExitStack() as stack:
        for hub in (ingest, *apis):
            stack.callback(hub.terminate)
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda hub: hub.start(timeout=90), [ingest, *apis]))
        url = stack.enter_context(
            nginx(
                [f"127.0.0.1:{ingest.port}"],
                [f"127.0.0.1:{a.port}" for a in apis],
                tmp_path / "nginx",
            )
        )
        yield ingest, apis, url


@pytest.mark.postgres
@pytest.mark.e2e
@pytest.mark.long  # ~25 s of real processes: the long lane keeps `make test` under 15 minutes
@pytest.mark.timeout(240)
def test_nginx_spreads_reads_routes_writes_streams_and_survives_a_killed_replica(
    stack: tuple[HubProcess, list[HubProcess], str], mosquitto_broker: BrokerProcess
) -> None:
    ingest, apis, url = stack
    devices = path(DEVICES)
    # the ingest replica leads the singleton jobs; the API replicas (no MQTT) never compete
    wait_until(lambda: leading(ingest), None, timeout=10, what="the ingest replica leading")
    assert not any(leading(a) for a in apis)
    with httpx.Client(base_url=url, headers=ingest.admin, timeout=30) as proxy:
        # reads: every replica answers some
        assert all(proxy.get(devices).status_code == 200 for _ in range(30))
        per_replica = [served(h, "GET", devices) for h in (ingest, *apis)]
        assert all(n > 0 for n in per_replica), per_replica
        # a write lands on the ingest replica (it may publish: device accounts, commands)
        created = proxy.post(devices, json={"id": "proxied-1"})
        assert created.status_code == 201, created.text
        assert served(ingest, "POST", devices) == 1
        assert [served(a, "POST", devices) for a in apis] == [0, 0]
        # the live stream through the proxy: `hello`, then the device's status as an update
        with proxy.stream("GET", LIVE, timeout=httpx.Timeout(30, read=30)) as live:
            assert live.status_code == 200
            lines = live.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: hello"
            probe = MqttProbe(mosquitto_broker.host, mosquitto_broker.port).connect()
            try:
                status = Status(state="online", agent_version="0.3", models=[])
                probe.publish(Topics().status("proxied-1"), encode(status), qos=1, retain=True)
                update = next(line for line in lines if "proxied-1" in line)
            finally:
                probe.close()
            assert update.startswith("data:")
        # a dashboard sign-in through the proxy: the cookie works on every replica, and a write
        # with its CSRF token passes the same-origin check (nginx passes Host with the port)
        signed = proxy.post(SESSION)
        assert signed.status_code == 200, signed.text
        csrf = signed.json()["csrf_token"]
    browser = httpx.Client(base_url=url, cookies=signed.cookies, timeout=30)
    with browser:
        before = [served(h, "GET", devices) for h in (ingest, *apis)]
        assert all(browser.get(devices).status_code == 200 for _ in range(30))
        after = [served(h, "GET", devices) for h in (ingest, *apis)]
        assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
        write = browser.post(
            devices, json={"id": "proxied-2"}, headers={"X-CSRF-Token": csrf, "Origin": url}
        )
        assert write.status_code == 201, write.text
        # an API replica SIGKILLed: nginx skips it, no request fails, the sign-in holds
        apis[0].kill()
        codes = [browser.get(devices).status_code for _ in range(30)]
        assert codes == [200] * 30
