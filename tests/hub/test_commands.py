"""`POST /devices/{id}/commands/{name}` against real brokers (a device replying over MQTT, one
that never does), and `POST /devices/{id}/deployments` (one version to one device)."""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_hub.core.config import Settings
from contract import Command, CommandReply, Topics, decode, encode
from models.training import mlp
from models.training.engine import SHAPE
from models.training.onnx_export import export_onnx
from tests.fixtures.brokers import BrokerProcess, SecuredBroker
from tests.hub.conftest import Hub, running_hub

T = Topics()
pytestmark = pytest.mark.filterwarnings(  # paho's wake-up socket pair is closed by the collector
    r"ignore:Exception ignored in. <(socket\.socket|_io\.FileIO):"
    "pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture
async def bridged(
    make_settings: Callable[..., Settings], broker: BrokerProcess
) -> AsyncIterator[Hub]:
    settings = make_settings(mqtt_enabled=True, mqtt_port=broker.port, mqtt_username=None)
    async for hub in running_hub(settings):
        await asyncio.wait_for(hub.app.state.bridge.connected.wait(), 15)
        yield hub


@contextmanager
def device_answering(
    host: str, port: int, device: str, creds: tuple[str, str] | None = None
) -> Iterator[list[Command]]:
    """A device that answers `cmd/ping` and records every command it gets."""
    got: list[Command] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device)
    if creds:
        client.username_pw_set(*creds)

    def on_message(c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        command = decode(Command, bytes(msg.payload))
        got.append(command)
        name = msg.topic.rsplit("/", 1)[1]
        reply = CommandReply(cmd_id="someone-else", ok=True)  # a stray reply is ignored
        c.publish(T.cmd_reply(device, name), encode(reply), qos=1)
        reply = CommandReply(cmd_id=command.cmd_id, ok=True, result={"pong": command.args})
        c.publish(T.cmd_reply(device, name), encode(reply), qos=1)

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(T.cmd(device, "ping"), qos=1)
    client.connect(host, port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        yield got
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def responder(broker: BrokerProcess) -> Iterator[list[Command]]:
    with device_answering(broker.host, broker.port, "cam-1") as got:
        yield got


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_command_waits_for_the_reply(bridged: Hub, responder: list[Command]) -> None:
    await bridged.enroll("cam-1")
    r = await bridged.client.post(
        "/api/v1/devices/cam-1/commands/ping", headers=bridged.admin, json={"args": {"n": 1}}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # ping's args are typed: an unknown key is dropped on the way out
    assert (body["ok"], body["result"], body["error"]) == (True, {"pong": {}}, None)
    assert (body["cmd_id"], body["device_id"], body["name"]) == (
        responder[0].cmd_id,
        "cam-1",
        "ping",
    )
    assert body["elapsed_ms"] >= 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "secured",
    ["secured_amqtt_broker", pytest.param("dynsec_mosquitto_broker", marks=pytest.mark.mosquitto)],
)
async def test_command_through_broker_acls(
    make_settings: Callable[..., Settings], secured: str, request: pytest.FixtureRequest
) -> None:
    """The hub account may publish commands and read replies; the device only its own."""
    broker: SecuredBroker = request.getfixturevalue(secured)
    secret = (await asyncio.to_thread(broker.add_devices, ["cam-9"]))["cam-9"]
    settings = make_settings(
        mqtt_enabled=True,
        mqtt_port=broker.port,
        mqtt_username=broker.hub[0],
        mqtt_password=broker.hub[1],
    )
    async for hub in running_hub(settings):
        await asyncio.wait_for(hub.app.state.bridge.connected.wait(), 15)
        await hub.enroll("cam-9")
        with device_answering(broker.host, broker.port, "cam-9", ("cam-9", secret)):
            r = await hub.client.post(
                "/api/v1/devices/cam-9/commands/ping", headers=hub.admin, json={}
            )
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_reply_is_a_504_with_a_clear_message(bridged: Hub) -> None:
    await bridged.enroll("cam-2")
    r = await bridged.client.post(
        "/api/v1/devices/cam-2/commands/ping", headers=bridged.admin, json={"timeout_s": 0.3}
    )
    assert r.status_code == 504, r.text
    error = r.json()["error"]
    assert error["code"] == "command_timeout"
    assert "cam-2 did not reply to `ping` within 0.3 s" in error["message"]
    assert error["detail"]["device_state"] == "offline"


async def test_command_refusals(hub: Hub) -> None:
    await hub.enroll("cam-3")
    r = await hub.client.post("/api/v1/devices/nope/commands/ping", headers=hub.admin, json={})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "device_not_found")
    r = await hub.client.post("/api/v1/devices/cam-3/commands/ping", headers=hub.admin, json={})
    assert (r.status_code, r.json()["error"]["code"]) == (503, "mqtt_disabled")
    r = await hub.client.post(
        "/api/v1/devices/cam-3/commands/ping", headers=hub.admin, json={"timeout_s": 61}
    )
    assert r.status_code == 422
    viewer = await hub.client.post(
        "/api/v1/api-keys", headers=hub.admin, json={"name": "v", "role": "viewer"}
    )
    assert viewer.status_code == 201, viewer.text
    token = {"Authorization": f"Bearer {viewer.json()['key']}"}
    r = await hub.client.post("/api/v1/devices/cam-3/commands/ping", headers=token, json={})
    assert r.status_code == 403
    r = await hub.client.post("/api/v1/devices/cam-3/commands/ping", json={})
    assert r.status_code == 401


async def test_deploy_one_version_to_one_device(hub: Hub) -> None:
    await hub.enroll("engine-a", capabilities=["engine-fault"])
    await hub.enroll("engine-b", capabilities=["engine-fault"])
    await hub.enroll("cam-4", capabilities=["face-detect-lite"])
    artifact = export_onnx(SHAPE, mlp.init_params(SHAPE, 3))
    r = await hub.client.post(
        "/api/v1/models/engine-fault/versions", headers=hub.admin, content=artifact
    )
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    r = await hub.client.post(
        "/api/v1/devices/engine-a/deployments",
        headers=hub.admin,
        json={"model": "engine-fault", "version": version},
    )
    assert r.status_code == 201, r.text
    dep = r.json()
    assert (dep["target"], dep["devices"], dep["version"], dep["state"]) == (
        "device",
        ["engine-a"],
        version,
        "active",
    )
    sent = hub.app.state.registry.commander.sent
    assert [(d, n, a["manifest"]["version"]) for d, n, a in sent] == [
        ("engine-a", "model-update", version)
    ]
    assert sent[0][2]["deployment_id"] == dep["id"]
    listed = await hub.client.get("/api/v1/models/engine-fault/deployments", headers=hub.admin)
    assert [d["target"] for d in listed.json()] == ["device"]

    r = await hub.client.post(
        "/api/v1/devices/cam-4/deployments",
        headers=hub.admin,
        json={"model": "engine-fault", "version": version},
    )
    assert (r.status_code, r.json()["error"]["code"]) == (409, "model_not_on_device")
    r = await hub.client.post(
        "/api/v1/devices/engine-a/deployments",
        headers=hub.admin,
        json={"model": "engine-fault", "version": "v999"},
    )
    assert r.status_code == 404
    assert json.dumps(r.json()).count("message") == 1
