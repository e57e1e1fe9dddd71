"""One MQTT connection per hub process, counted at the broker.

`edgefleet hub` runs as a real process against Mosquitto with dynamic security (the hub on
its own `hub` account) and does all it speaks MQTT for: ingest (a device's birth and
heartbeat), an API command round trip (`ping`), a federated round's `fl-train` and a
rollout's `model-update`, with the device's replies stored. Mosquitto logs every CONNECT with
its user name; the hub account must appear exactly once, under the configured client id, and
the hub's own gauge must agree. (Before: one bridge session, one paho commander session and
one more session per API command.) As replica `a` the hub has an account of its own, pinned
to `edgefleet-hub-a` like every dynsec account (broker/dynsec.py).
"""

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract import Command, CommandReply, ErrorCode, Health, Kind, Status, Topics, decode, encode
from models.training import mlp
from models.training.engine import SHAPE
from models.training.onnx_export import export_onnx
from tests.deploy.hubproc import running_hub
from tests.fixtures.brokers import SecuredBroker

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.mosquitto,
    pytest.mark.filterwarnings(  # paho's wake-up socket pair is closed by the collector
        r"ignore:Exception ignored in. <(socket\.socket|_io\.FileIO):"
        "pytest.PytestUnraisableExceptionWarning"
    ),
]
T = Topics()
DEVICE = "engine-1"
CLIENT_ID = "edgefleet-hub-a"  # mqtt_client_id `edgefleet-hub` + mqtt_replica `a`
TIMEOUT = 30.0


@contextmanager
def device(broker: SecuredBroker, secret: str) -> Iterator[list[str]]:
    """A device on its own broker account: birth and a heartbeat, then it answers every
    command (`ping` ok, the others `command_failed`) and records their names."""
    got: list[str] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=DEVICE)
    client.username_pw_set(DEVICE, secret)

    def on_message(c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        name = T.parse(msg.topic).name or ""
        command = decode(Command, bytes(msg.payload))
        got.append(name)
        reply = (
            CommandReply(cmd_id=command.cmd_id, ok=True, result={"state": "running"})
            if name == "ping"
            else CommandReply.failure(command.cmd_id, ErrorCode.COMMAND_FAILED, "test device")
        )
        c.publish(T.cmd_reply(DEVICE, name), encode(reply), qos=1)

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(T.filter(Kind.CMD, DEVICE), qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        status = Status(state="online", agent_version="test", models=["engine-fault"])
        client.publish(T.status(DEVICE), encode(status), qos=1, retain=True)
        health = Health(cpu=0.1, mem=0.1, queue_depth=0, uptime_s=1, seq=0)
        client.publish(T.health(DEVICE), encode(health), qos=1)
        yield got
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling the hub's API: it has no push channel for this
    return value


def hub_connects(broker: SecuredBroker, username: str) -> list[str]:
    """Mosquitto's log line of every CONNECT made with the hub account's user name."""
    return [
        line
        for line in broker.process.output
        if "New client connected" in line and f"u'{username}'" in line
    ]


def test_the_hub_uses_one_mqtt_connection(
    dynsec_mosquitto_broker: SecuredBroker, tmp_path: Path
) -> None:
    broker = dynsec_mosquitto_broker
    secret = broker.add_devices([DEVICE])[DEVICE]
    username, password = broker.add_hubs([CLIENT_ID])[CLIENT_ID]  # replica a's account
    env = {
        "EDGEFLEET_MQTT_USERNAME": username,
        "EDGEFLEET_MQTT_PASSWORD": password,
        "EDGEFLEET_MQTT_CLIENT_ID": "edgefleet-hub",
        "EDGEFLEET_MQTT_REPLICA": "a",
        "EDGEFLEET_INGEST_FLUSH_S": "0.02",
    }
    with running_hub(tmp_path / "hub", mqtt_port=broker.port, **env) as hub, hub.client() as api:
        wait_for(
            "the hub's MQTT session",
            lambda: api.get("/readyz").json()["checks"].get("broker") == "ok",
        )
        r = api.post("/api/v1/devices", json={"id": DEVICE, "capabilities": ["engine-fault"]})
        assert r.status_code == 201, r.text
        with device(broker, secret) as got:
            # ingest: the device's birth and heartbeat
            wait_for(
                "the device online",
                lambda: api.get(f"/api/v1/devices/{DEVICE}").json()["health"]["state"] == "online",
            )
            # an API command round trip
            r = api.post(f"/api/v1/devices/{DEVICE}/commands/ping", json={"timeout_s": 10})
            assert (r.status_code, r.json()["ok"]) == (200, True), r.text
            # a federated round's command
            r = api.post("/api/v1/fl/rounds", json={"devices": [DEVICE], "min_clients": 1})
            assert r.status_code == 201, r.text
            # a rollout's command
            r = api.post(
                "/api/v1/models/engine-fault/versions",
                content=export_onnx(SHAPE, mlp.init_params(SHAPE, 3)),
            )
            assert r.status_code == 201, r.text
            r = api.post(
                f"/api/v1/devices/{DEVICE}/deployments",
                json={"model": "engine-fault", "version": r.json()["version"]},
            )
            assert r.status_code == 201, r.text
            rows = wait_for("every reply stored", lambda: _replied(api))
        metrics = api.get("/metrics").text
    # Assert: the device got all three, the hub stored them with their replies ...
    assert sorted(got) == ["fl-train", "model-update", "ping"]
    assert sorted((row["name"], row["ok"]) for row in rows) == [
        ("fl-train", False),
        ("model-update", False),
        ("ping", True),
    ]
    # ... over one connection: one CONNECT with the hub's account, under its client id
    connects = hub_connects(broker, username)
    assert len(connects) == 1, "\n".join(broker.process.output)
    assert f" as {CLIENT_ID} " in connects[0], connects[0]
    assert _metric(metrics, "edgefleet_hub_mqtt_connections") == 1
    assert _metric(metrics, "edgefleet_hub_mqtt_connects_total") == 1
    assert _metric(metrics, f'edgefleet_hub_mqtt_client_info{{client_id="{CLIENT_ID}"}}') == 1


def _replied(api: httpx.Client) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = api.get(f"/api/v1/devices/{DEVICE}/commands").json()["items"]
    done = len(rows) == 3 and all(row["replied_at"] and row["sent_at"] for row in rows)
    return rows if done else None


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))
