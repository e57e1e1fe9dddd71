"""The ingest replica SIGKILLed under load, behind nginx (docs/deploy-production.md): PostgreSQL,
Mosquitto, two hub replicas with an MQTT session (the leader ingests, the other stands by) and
one API replica, nginx in front, three real agents sending results at 10/s each with the hub's
end-to-end acks. The standby takes over ingest; afterwards every result is stored once and in
each device's order, and a dashboard sign-in made before the kill still works."""

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from contract.http import DEVICES, path
from deploy.proxy.nginx import SESSION
from edgefleet.procs import AgentProcess, HubProcess, agent_config
from edgefleet.procs.nginx import nginx
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.fixtures.replicas import results_ingested, wait_for_leader
from tests.offload.fleet import Driver, T, hub_results, in_order, wait_results

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.long, pytest.mark.timeout(360)]
AGENTS = 3
# resends every 2 s, backing off to 8 s at most while no replica ingests
OUTBOX = {"outbox": {"ack_timeout_s": 2.0, "ack_timeout_max_s": 8.0}}


def test_ingest_replica_killed_under_load_nothing_lost_in_order(
    postgres_database: str, mosquitto_broker: BrokerProcess, tmp_path: Path
) -> None:
    env = {"EDGEFLEET_DATABASE_URL": postgres_database}
    port = mosquitto_broker.port
    mqtt = [
        HubProcess(tmp_path / f"mqtt-{i}", port, cloud_models=(), extra_env=env) for i in (0, 1)
    ]
    api = HubProcess(
        tmp_path / "api",
        port,
        cloud_models=(),
        extra_env={**env, "EDGEFLEET_MQTT_ENABLED": "false"},
    )
    with ExitStack() as stack:
        for hub in (*mqtt, api):
            stack.callback(hub.terminate)
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda hub: hub.start(timeout=90), [*mqtt, api]))
        url = stack.enter_context(
            nginx(
                [f"127.0.0.1:{h.port}" for h in mqtt],
                [f"127.0.0.1:{api.port}"],
                tmp_path / "nginx",
            )
        )
        admin = stack.enter_context(httpx.Client(base_url=url, headers=api.admin, timeout=30))
        probe = MqttProbe(mosquitto_broker.host, mosquitto_broker.port).connect()
        stack.callback(probe.close)
        probe.subscribe("edgefleet/v1/+/status")
        agents = []
        for i in range(AGENTS):
            device = f"failover-{i}"
            created = admin.post(path(DEVICES), json={"id": device})
            assert created.status_code == 201, created.text
            secret = created.json()["device_secret"]
            cfg = agent_config(device, port, secret=secret, hub_url=url, **OUTBOX)
            agent = AgentProcess(tmp_path / "agents", cfg)
            stack.callback(agent.stop)
            agent.start()
            agents.append(agent)
        for a in agents:
            probe.wait_for(
                lambda m, d=a.device: m.topic == T.status(d) and b'"online"' in m.payload, 60
            )
        signed = admin.post(SESSION)
        assert signed.status_code == 200, signed.text
        browser = stack.enter_context(
            httpx.Client(base_url=url, cookies=signed.cookies, timeout=30)
        )
        first = wait_for_leader(mqtt, 30)

        # Execute: load, then the leader (the ingest replica) SIGKILLed
        driver = Driver(probe, [a.device for a in agents], period_s=0.1, max_requests=500)
        driver.start()
        stack.callback(driver.stop)
        time.sleep(5)  # results flow through the first leader
        standby = 1 - first
        ingested = [results_ingested(h) for h in mqtt]
        assert ingested[first] > 0
        assert ingested[standby] == 0  # one consumer at a time
        mqtt[first].kill()
        killed = time.monotonic()
        second = wait_for_leader(mqtt, 30)
        failover_s = time.monotonic() - killed
        time.sleep(15)  # results keep coming, now to the second leader
        driver.stop()
        found = wait_results(postgres_database, driver.sent, stall_s=30, cap_s=120)

        # Assert: every result once, in each device's order; the sign-in holds
        rows = hub_results(postgres_database)
        lost = {d: len(set(rids) - set(found.get(d, []))) for d, rids in driver.sent.items()}
        stored = {d: [r for _, r, _ in rows.get(d, [])] for d in driver.sent}
        print(
            f"ingest failover: leader {first} -> {second} in {failover_s:.2f} s; "
            f"sent {driver.total()}, lost {lost}"
        )
        assert second == standby
        assert results_ingested(mqtt[second]) > 0
        assert lost == dict.fromkeys(driver.sent, 0)
        assert all(len(v) == len(set(v)) for v in stored.values()), "duplicates stored"
        assert all(in_order(v) for v in stored.values()), "stored out of order"
        assert [browser.get(path(DEVICES)).status_code for _ in range(20)] == [200] * 20
