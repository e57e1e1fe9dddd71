"""The ingest replica SIGKILLed under load, behind nginx (docs/deploy-production.md): PostgreSQL,
Mosquitto, two hub replicas with an MQTT session (the leader ingests, the other stands by) and
one API replica, nginx in front; 200 simulated devices sending heartbeats every second and
three real agents sending face results at 10/s each (hub end-to-end acks) and training the
engine model. A federated round (with its rollout) starts before the kill. The standby takes
over ingest; afterwards every result is stored once and in each device's order, the round is
published and its version runs on every agent, the simulated fleet is online, and a dashboard
sign-in made before the kill still works."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import Health, encode
from contract.http import DEVICES, FLEET_SUMMARY, ROUND, ROUNDS, SIGNING_KEY, path
from deploy.proxy.nginx import SESSION
from edgefleet.bench.hub.seeding import seed
from edgefleet.procs import AgentProcess, HubProcess, agent_config
from edgefleet.procs.nginx import nginx
from edgefleet.procs.wait import wait_until
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.fixtures.replicas import results_ingested, wait_for_leader
from tests.offload.fleet import FACE, Driver, T, hub_results, in_order, wait_results

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.long, pytest.mark.timeout(360)]
AGENTS = 3
SIMULATED = 200
# resends every 2 s, backing off to 8 s at most while no replica ingests
OUTBOX = {"outbox": {"ack_timeout_s": 2.0, "ack_timeout_max_s": 8.0}}


class Heartbeats:
    """`SIMULATED` devices' heartbeats (QoS 0, one per device per second) from a thread."""

    def __init__(self, probe: MqttProbe, devices: list[str]) -> None:
        self.probe, self.devices = probe, devices
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        while not self._stop.wait(1.0):
            seq += 1
            now = datetime.now(UTC)
            for device in self.devices:
                health = Health(cpu=0.1, mem=0.2, queue_depth=0, uptime_s=seq, seq=seq, ts=now)
                self.probe.publish(T.health(device), encode(health), qos=0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def round_state(admin: httpx.Client, round_id: int) -> dict[str, Any]:
    r = admin.get(path(ROUND, round_id=round_id))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_ingest_replica_killed_under_load_nothing_lost_in_order(
    postgres_database: str, mosquitto_broker: BrokerProcess, tmp_path: Path
) -> None:
    simulated = seed(postgres_database, SIMULATED)  # before the hubs load their runtimes
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
        key = admin.get(path(SIGNING_KEY)).json()["public_key"]
        agents = []
        for i in range(AGENTS):
            device = f"failover-{i}"
            created = admin.post(path(DEVICES), json={"id": device})
            assert created.status_code == 201, created.text
            secret = created.json()["device_secret"]
            cfg = agent_config(
                device,
                port,
                secret=secret,
                hub_url=url,
                models=(FACE, "engine-fault"),
                model_sync={"public_key": key, "state_dir": str(tmp_path / f"sync-{device}")},
                federated={
                    "enabled": True,
                    "training_data": "partition",
                    "engine_index": i,
                    "records": 300,
                },
                **OUTBOX,
            )
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
        heartbeats = Heartbeats(probe, simulated)
        heartbeats.start()
        stack.callback(heartbeats.stop)

        # Execute: load and a federated round, then the leader (the ingest replica) SIGKILLed
        driver = Driver(probe, [a.device for a in agents], period_s=0.1, max_requests=500)
        driver.start()
        driver_started = time.monotonic()
        stack.callback(driver.stop)
        started = admin.post(
            path(ROUNDS),
            json={
                "model": "engine-fault",
                "devices": [a.device for a in agents],
                "min_clients": AGENTS,
                "local_epochs": 2,
                "deadline_s": 90,
                "max_regression": None,  # the mechanics, not the accuracy gate
            },
        )
        assert started.status_code == 201, started.text
        round_id = started.json()["id"]
        wait_until(  # the devices got their fl-train commands: one has uploaded
            lambda: any(
                p["state"] == "uploaded" for p in round_state(admin, round_id)["participants"]
            ),
            None,
            timeout=60,
            what="a first upload",
        )
        time.sleep(max(0.0, 5 - (time.monotonic() - driver_started)))
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
        wait_until(
            lambda: round_state(admin, round_id)["state"] in ("published", "failed"),
            None,
            timeout=90,
            what="round",
        )
        finished = round_state(admin, round_id)
        version = finished["result_version"]
        running = path("/models/engine-fault/devices")
        wait_until(
            lambda: (
                sorted((r["version"], r["state"]) for r in admin.get(running).json())
                == [(version, "running")] * AGENTS
            ),
            None,
            timeout=60,
            what="the round's version running on every agent",
        )
        summary = admin.get(path(FLEET_SUMMARY)).json()

        # Assert: every result once, in each device's order; the sign-in holds
        rows = hub_results(postgres_database)
        lost = {d: len(set(rids) - set(found.get(d, []))) for d, rids in driver.sent.items()}
        # face results (rid from the driver); the engine model's sensor results have none
        stored = {d: [r for _, r, _ in rows.get(d, []) if r is not None] for d in driver.sent}
        print(
            f"ingest failover: leader {first} -> {second} in {failover_s:.2f} s; "
            f"sent {driver.total()}, lost {lost}; round {finished['state']} as {version}, "
            f"running on {AGENTS} agents; fleet {summary['by_state']}"
        )
        assert finished["state"] == "published", finished["reason"]
        assert summary["by_state"]["online"] >= SIMULATED + AGENTS, summary
        assert second == standby
        assert results_ingested(mqtt[second]) > 0
        assert lost == dict.fromkeys(driver.sent, 0)
        assert all(len(v) == len(set(v)) for v in stored.values()), "duplicates stored"
        assert all(in_order(v) for v in stored.values()), "stored out of order"
        assert [browser.get(path(DEVICES)).status_code for _ in range(20)] == [200] * 20
