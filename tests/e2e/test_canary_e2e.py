"""Model rollouts through the registry with real processes: a hub, Mosquitto and three
`edgefleet agent`s serving face-detect-lite while requests keep coming.

A signed registry version of the face model rolls out to every device and they all serve it
(single-file models stand in for the catalogue's file). Then a canary of a version that cannot
run on a device (a wake-word network where a face detector belongs): the canary device
refuses it and says why, and the hub rolls the canary back at once — re-signing the previous
version as a newer one — instead of waiting out the window and promoting it to the fleet, which
it did before (a canary with no results looked healthy). The other devices never see it."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import Kind, Topics
from edgefleet.bench.edge.inputs import bench_input
from edgefleet.procs.wait import wait_until
from models.catalogue import load_catalogue
from models.fetch import ensure_files
from tests.deploy.hubproc import Hub, running_hub
from tests.fixtures.agents import AgentStarter, ObservedAgent
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.fixtures.requires import require_models

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.mosquitto,
    pytest.mark.slow,
    pytest.mark.long,  # make test-long: make test is near its 15-minute budget
    pytest.mark.timeout(300),
]

T = Topics()
MODEL = "face-detect-lite"
DEVICES = ("canary-a", "canary-b", "canary-c")
TIMEOUT = 60.0


def model_file(model: str, name: str | None = None) -> bytes:
    spec = load_catalogue().get(model)
    files = ensure_files(spec)
    return files[name or spec.files[0].name].read_bytes()


def upload(api: httpx.Client, content: bytes, parent: str | None = None) -> str:
    params = {"format": "tflite", **({"parent": parent} if parent else {})}
    r = api.post(f"/api/v1/models/{MODEL}/versions", content=content, params=params)
    assert r.status_code == 201, r.text
    return str(r.json()["version"])


def reports(api: httpx.Client) -> dict[str, dict[str, Any]]:
    rows = api.get(f"/api/v1/models/{MODEL}/devices").json()
    return {row["device_id"]: row for row in rows}


def running(api: httpx.Client, version: str, devices: tuple[str, ...]) -> bool:
    got = reports(api)
    return all(got.get(d, {}).get("version") == version and got[d]["state"] == "running"
               for d in devices)  # fmt: skip


def served(probe: MqttProbe, device: str, version: str) -> bool:
    """Whether `device` has answered a face request from `version`."""
    prefix = T.result(device, MODEL)
    return any(m.topic.startswith(prefix) and m.json()["model_version"] == version
               for m in probe.messages)  # fmt: skip


class Traffic:
    """Face requests to every device, one per device every 100 ms, until stopped (bounded)."""

    def __init__(self, probe: MqttProbe, limit_s: float = 240.0) -> None:
        self._probe, self._limit = probe, limit_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _run(self) -> None:
        jpeg = bench_input(MODEL).payload
        end = time.monotonic() + self._limit
        while not self._stop.wait(0.1) and time.monotonic() < end:
            for device in DEVICES:
                self._probe.publish(T.infer(device, MODEL, f"r{self.sent}"), jpeg)
                self.sent += 1

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def fleet(
    mosquitto_broker: BrokerProcess, tmp_path: Path
) -> Iterator[tuple[Hub, dict[str, ObservedAgent]]]:
    require_models(MODEL, "wakeword-lite")
    env = {"EDGEFLEET_FL_TICK_S": "0.5", "EDGEFLEET_INGEST_FLUSH_S": "0.05"}
    with running_hub(tmp_path / "hub", mqtt_port=mosquitto_broker.port, **env) as hub:
        starter = AgentStarter(tmp_path, mosquitto_broker)
        try:
            with hub.client() as api:
                key = api.get("/api/v1/models/signing-key").json()["public_key"]
                agents = {}
                for device in DEVICES:
                    r = api.post("/api/v1/devices", json={"id": device, "capabilities": [MODEL]})
                    assert r.status_code == 201, r.text
                    agents[device] = starter.start(
                        device, (MODEL,), secret=r.json()["device_secret"], hub_url=hub.url,
                        model_sync={"public_key": key},
                    )  # fmt: skip
            for device in DEVICES:
                hub.wait_state(device, "online", timeout=TIMEOUT, agent_log=agents[device].log)
            yield hub, agents
        finally:
            starter.stop_all()


def test_a_canary_that_cannot_run_the_version_is_rolled_back_not_promoted(
    fleet: tuple[Hub, dict[str, ObservedAgent]], mosquitto_broker: BrokerProcess
) -> None:
    hub, agents = fleet
    probe = MqttProbe(mosquitto_broker.host, mosquitto_broker.port).connect()
    probe.subscribe(T.filter(Kind.RESULT))  # results only: the requests carry 64 kB JPEGs
    with hub.client() as api, Traffic(probe) as traffic:
        # a registry version of the face model reaches every device, which serves it
        v1 = upload(api, model_file(MODEL))
        r = api.post(f"/api/v1/models/{MODEL}/deployments", json={"version": v1})
        assert r.status_code == 201, r.text
        wait_until(lambda: running(api, v1, DEVICES), None, timeout=TIMEOUT, what="v1 everywhere")
        wait_until(lambda: all(served(probe, d, v1) for d in DEVICES), None, timeout=TIMEOUT,
                   what="results from v1 on every device")  # fmt: skip

        # a canary of a version the device cannot load
        bad = upload(api, model_file("wakeword-lite", "okay_nabu.tflite"), parent=v1)
        r = api.post(
            f"/api/v1/models/{MODEL}/deployments",
            json={"version": bad, "target": "canary", "canary_percent": 30, "window_s": 120},
        )
        assert r.status_code == 201, r.text
        deployment = r.json()
        (canary,) = deployment["devices"]

        def finished() -> dict[str, Any] | None:
            dep: dict[str, Any] = api.get(f"/api/v1/deployments/{deployment['id']}").json()
            return dep if dep["state"] != "active" else None

        wait_until(lambda: finished() is not None, None, timeout=TIMEOUT, what="the verdict")
        dep = finished()
        assert dep is not None
        assert dep["state"] == "rolled_back", dep
        assert dep["reason"].startswith(f"refused by 1 canary device(s), {canary}: unloadable: ")
        restored = dep["rollback_version"]
        wait_until(lambda: running(api, restored, (canary,)), None, timeout=TIMEOUT,
                   what="the restored version on the canary")  # fmt: skip
        versions = api.get(f"/api/v1/models/{MODEL}/versions").json()
        note = next(v["note"] for v in versions if v["version"] == restored)
        assert note == f"rollback of {bad} to {v1}"
        # the canary answers again, from the restored version; nobody else ever ran `bad`
        wait_until(lambda: served(probe, canary, restored), None, timeout=TIMEOUT,
                   what="results from the restored version")  # fmt: skip
        others = [d for d in DEVICES if d != canary]
        assert running(api, v1, tuple(others))
        assert not any(served(probe, d, bad) for d in DEVICES)
        assert traffic.sent > 0
    for agent in agents.values():
        assert agent.proc.poll() is None, agent.output()
    probe.close()
