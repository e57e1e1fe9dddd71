"""Commands and replies in the `commands` table, read with `GET /devices/{id}/commands`: the
API's own command, a rollout's, a reply to a command the hub has no record of, paging; and
what publishing does without an MQTT session (fail fast for a waiting caller, queue for a
rollout, sent once the session is back). Real brokers, a paho "device", both databases."""

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_hub.core.config import Settings
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.ingest.messenger import Messenger, MqttUnavailable
from contract import Command, CommandReply, ErrorCode, Kind, Topics, decode, encode
from models.training import mlp
from models.training.engine import SHAPE
from models.training.onnx_export import export_onnx
from tests.fixtures.brokers import BrokerProcess
from tests.hub.conftest import Hub, basic, running_hub

T = Topics()
TIMEOUT = 20.0
pytestmark = pytest.mark.filterwarnings(  # paho's wake-up socket pair is closed by the collector
    r"ignore:Exception ignored in. <(socket\.socket|_io\.FileIO):"
    "pytest.PytestUnraisableExceptionWarning"
)


@contextmanager
def device(broker: BrokerProcess, device_id: str) -> Iterator[list[tuple[str, Command]]]:
    """Answers every command: `ping` ok, anything else `command_failed`; records them all.
    Before each answer a reply with a cmd_id the hub never sent."""
    got: list[tuple[str, Command]] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id)

    def on_message(c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        name = T.parse(msg.topic).name or ""
        command = decode(Command, bytes(msg.payload))
        got.append((name, command))
        c.publish(T.cmd_reply(device_id, name), encode(CommandReply(cmd_id="stray", ok=True)), 1)
        reply = (
            CommandReply(cmd_id=command.cmd_id, ok=True, result={"n": len(got)})
            if name == "ping"
            else CommandReply.failure(command.cmd_id, ErrorCode.COMMAND_FAILED, "no space")
        )
        c.publish(T.cmd_reply(device_id, name), encode(reply), qos=1)

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(T.filter(Kind.CMD, device_id), qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        yield got
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
async def bridged(
    make_settings: Callable[..., Settings], amqtt_broker: BrokerProcess
) -> AsyncIterator[Hub]:
    settings = make_settings(
        mqtt_enabled=True, mqtt_port=amqtt_broker.port, mqtt_username=None, ingest_flush_s=0.02
    )
    async for hub in running_hub(settings):
        await asyncio.wait_for(hub.app.state.bridge.connected.wait(), TIMEOUT)
        yield hub


async def commands(hub: Hub, device_id: str, query: str = "") -> dict[str, Any]:
    r = await hub.client.get(f"/api/v1/devices/{device_id}/commands{query}", headers=hub.admin)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def until(
    hub: Hub, device_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The device's command rows once `done(rows)` holds (the writer stores them in batches)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            rows: list[dict[str, Any]] = (await commands(hub, device_id, "?limit=1000"))["items"]
            if done(rows):
                return rows
            await asyncio.sleep(0.05)


async def upload_version(hub: Hub) -> str:
    artifact = export_onnx(SHAPE, mlp.init_params(SHAPE, 3))
    r = await hub.client.post(
        "/api/v1/models/engine-fault/versions", headers=hub.admin, content=artifact
    )
    assert r.status_code == 201, r.text
    version: str = r.json()["version"]
    return version


async def test_api_commands_and_replies_become_rows(
    bridged: Hub, amqtt_broker: BrokerProcess
) -> None:
    # Prepare
    await bridged.enroll("cam-1")
    with device(amqtt_broker, "cam-1"):
        # Execute: three round trips through the hub's one session
        sent = []
        for _ in range(3):
            r = await bridged.client.post(
                "/api/v1/devices/cam-1/commands/ping",
                headers=bridged.admin,
                json={"args": {"x": 1}},
            )
            assert r.status_code == 200, r.text
            sent.append(r.json())
        rows = await until(
            bridged, "cam-1", lambda rows: len(rows) == 4 and all(row["replied_at"] for row in rows)
        )
    # Assert: newest first; each sent command with its args as sent and its reply
    assert [row["cmd_id"] for row in rows if row["args"] is not None] == [
        s["cmd_id"] for s in reversed(sent)
    ]
    first = next(row for row in rows if row["cmd_id"] == sent[0]["cmd_id"])
    assert (first["name"], first["args"], first["ok"], first["code"], first["error"]) == (
        "ping",
        {},
        True,
        None,
        None,
    )  # ping's args are typed: the unknown key was dropped
    assert first["result"] == sent[0]["result"]
    assert first["sent_at"]
    assert first["replied_at"]
    # ... and the replies to a cmd_id the hub never sent: one row, without the sent half
    stray = next(row for row in rows if row["cmd_id"] == "stray")
    assert (stray["args"], stray["sent_at"], stray["ok"]) == (None, None, True)

    # paging: keyset, newest first, every row once
    page1 = await commands(bridged, "cam-1", "?limit=3")
    assert (page1["total"], len(page1["items"])) == (4, 3)
    assert page1["next_cursor"] is not None
    page2 = await commands(bridged, "cam-1", f"?limit=3&cursor={page1['next_cursor']}")
    assert (len(page2["items"]), page2["next_cursor"]) == (1, None)
    assert [r["cmd_id"] for r in page1["items"] + page2["items"]] == [r["cmd_id"] for r in rows]
    assert (await commands(bridged, "cam-1", "?name=fl-train"))["total"] == 0
    assert (await commands(bridged, "cam-1", "?name=ping"))["total"] == 4


async def test_a_rollout_command_and_its_failure_reply_are_rows(
    bridged: Hub, amqtt_broker: BrokerProcess
) -> None:
    await bridged.enroll("engine-a", capabilities=["engine-fault"])
    version = await upload_version(bridged)
    with device(amqtt_broker, "engine-a") as got:
        r = await bridged.client.post(
            "/api/v1/devices/engine-a/deployments",
            headers=bridged.admin,
            json={"model": "engine-fault", "version": version},
        )
        assert r.status_code == 201, r.text
        rows = await until(
            bridged, "engine-a", lambda rows: any(row["args"] and row["replied_at"] for row in rows)
        )
    assert [name for name, _ in got] == ["model-update"]
    row = next(row for row in rows if row["args"])
    assert (row["name"], row["cmd_id"]) == ("model-update", got[0][1].cmd_id)
    assert row["args"]["manifest"]["version"] == version
    assert (row["ok"], row["code"], row["error"]) == (False, "command_failed", "no space")


async def test_reading_needs_the_device_or_a_reader(bridged: Hub) -> None:
    creds = await bridged.enroll("cam-2")
    await bridged.enroll("cam-3")
    r = await bridged.client.get("/api/v1/devices/nope/commands", headers=bridged.admin)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "device_not_found")
    r = await bridged.client.get("/api/v1/devices/cam-2/commands?cursor=x", headers=bridged.admin)
    assert r.status_code == 422
    own = basic("cam-2", creds["device_secret"])
    assert (await bridged.client.get("/api/v1/devices/cam-2/commands", headers=own)).json() == {
        "items": [],
        "total": 0,
        "next_cursor": None,
    }
    r = await bridged.client.get("/api/v1/devices/cam-3/commands", headers=own)
    assert r.status_code == 403


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_without_a_session_callers_fail_fast_and_rollouts_wait(
    bridged: Hub, amqtt_broker: BrokerProcess
) -> None:
    # Prepare: the broker goes away
    await bridged.enroll("engine-b", capabilities=["engine-fault"])
    version = await upload_version(bridged)
    bridge = bridged.app.state.bridge
    amqtt_broker.kill()
    async with asyncio.timeout(TIMEOUT):
        while True:  # /readyz says so once the bridge noticed
            ready = await bridged.client.get("/readyz", headers=bridged.admin)
            if ready.json()["checks"]["broker"] == "disconnected":
                break
            await asyncio.sleep(0.02)
    # Execute + Assert: a caller waiting for a reply gets a clear 503 at once ...
    r = await bridged.client.post(
        "/api/v1/devices/engine-b/commands/ping", headers=bridged.admin, json={}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (503, "mqtt_unavailable"), r.text
    # ... a rollout is accepted and its command queued (not published, so not recorded yet)
    r = await bridged.client.post(
        "/api/v1/devices/engine-b/deployments",
        headers=bridged.admin,
        json={"model": "engine-fault", "version": version},
    )
    assert r.status_code == 201, r.text
    assert _metric(await _metrics(bridged), "edgefleet_hub_mqtt_outbox") == 1
    await asyncio.sleep(0.3)
    assert (await commands(bridged, "engine-b"))["total"] == 0
    # ... and published once the session is back
    await asyncio.to_thread(amqtt_broker.start)
    await asyncio.wait_for(bridge.connected.wait(), TIMEOUT)
    rows = await until(bridged, "engine-b", lambda rows: len(rows) == 1)
    assert rows[0]["name"] == "model-update"
    assert rows[0]["sent_at"]
    text = await _metrics(bridged)
    assert _metric(text, "edgefleet_hub_mqtt_outbox") == 0
    assert _metric(text, "edgefleet_hub_mqtt_connects_total") == 2  # one reconnect
    assert _metric(text, "edgefleet_hub_mqtt_connections") == 1


def test_the_outbox_is_bounded() -> None:
    messenger = Messenger(T, HubMetrics(), outbox_max=2)
    for _ in range(2):
        messenger.send("cam-1", "ping", Command(cmd_id="c", args={}))
    with pytest.raises(MqttUnavailable, match="2 commands already wait"):
        messenger.send("cam-1", "ping", Command(cmd_id="c", args={}))


async def _metrics(hub: Hub) -> str:
    r = await hub.client.get("/metrics", headers=hub.admin)
    assert r.status_code == 200
    return r.text


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))
