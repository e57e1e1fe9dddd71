"""The MQTT bridge against real brokers (amqtt and Mosquitto): subscribe, ingest, presence."""

import asyncio
import json
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract import Health, InferResult, Status, Topics, TwinReported, encode
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.hub.conftest import Hub

T = Topics()


async def _processed(hub: Hub, n: int) -> None:
    writer = hub.app.state.writer
    assert await asyncio.to_thread(writer.wait_processed, n, 15), writer.processed


async def _get(hub: Hub, path: str) -> Any:
    r = await hub.client.get(path, headers=hub.admin)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bridge_ingests_every_kind(bridged: Hub, broker: BrokerProcess) -> None:
    await bridged.enroll("cam-1")
    dev = MqttProbe(broker.host, broker.port, client_id="cam-1").connect()
    try:
        dev.publish(
            T.status("cam-1"),
            encode(Status(state="online", agent_version="0.3", models=["face-detect-lite"])),
            retain=True,
        )
        for seq in range(5):
            dev.publish(
                T.health("cam-1"),
                encode(Health(cpu=0.1, mem=0.1, queue_depth=0, uptime_s=seq, seq=seq)),
            )
        result = InferResult(
            model="face-detect-lite",
            model_version="1",
            where="edge",
            latency_ms=2,
            output={"faces": []},
            msg_id="r-1",
            rid="q1",
        )
        dev.publish(T.result("cam-1", "face-detect-lite", "q1"), encode(result))
        dev.publish(
            T.event("cam-1", "face"),
            json.dumps(
                {
                    "kind": "face",
                    "model": "face-detect-lite",
                    "msg_id": "e-1",
                    "ts": "2025-01-01T00:00:00Z",
                }
            ).encode(),
        )
        dev.publish(
            T.error("cam-1"),
            json.dumps(
                {"topic": "t", "code": "bad_image", "error": "x", "ts": "2025-01-01T00:00:00Z"}
            ).encode(),
        )
        dev.publish(
            T.twin_reported("cam-1"),
            encode(TwinReported(version={"cam-1": 2}, state={"threshold": 0.6})),
            retain=True,
        )
        dev.publish(T.health("ghost"), b"{}")  # unknown device: dropped, counted
        await _processed(bridged, 11)
    finally:
        dev.close()
    device = await _get(bridged, "/api/v1/devices/cam-1")
    assert device["health"]["state"] == "online"
    assert device["agent_version"] == "0.3"
    assert len(await _get(bridged, "/api/v1/devices/cam-1/health/history")) == 5
    assert [r["msg_id"] for r in await _get(bridged, "/api/v1/devices/cam-1/results")] == ["r-1"]
    assert len(await _get(bridged, "/api/v1/devices/cam-1/events")) == 1
    assert len(await _get(bridged, "/api/v1/devices/cam-1/errors")) == 1
    assert (await _get(bridged, "/api/v1/devices/cam-1/twin"))["reported"] == {"threshold": 0.6}
    ready = await bridged.client.get("/readyz", headers=bridged.admin)
    checks = ready.json()["checks"]
    assert (checks["database"], checks["broker"], checks["writer"]) == ("ok", "ok", "ok")


async def test_last_will_marks_device_offline(bridged: Hub, broker: BrokerProcess) -> None:
    await bridged.enroll("cam-2")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="cam-2", protocol=paho.MQTTv311)
    client.will_set(
        T.status("cam-2"), encode(Status(state="offline", agent_version="0.3")), qos=1, retain=True
    )
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    info = client.publish(
        T.status("cam-2"), encode(Status(state="online", agent_version="0.3")), qos=1
    )
    info.wait_for_publish(10)
    await _processed(bridged, 1)
    assert (await _get(bridged, "/api/v1/devices/cam-2/health"))["state"] == "online"
    client.loop_stop()
    sock = client.socket()
    assert sock is not None
    sock.close()  # connection lost without DISCONNECT: the broker publishes the Will
    await _processed(bridged, 2)
    health = await _get(bridged, "/api/v1/devices/cam-2/health")
    assert health["state"] == "offline"
    assert "last will" in health["reason"]
