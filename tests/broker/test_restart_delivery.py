"""Two ways the embedded broker lost QoS 1 requests, each pinned by a test.

* After a restart its database brought back every device's retained `online`; a third party
  trusting it published to devices that had not re-subscribed yet (broker/presence.py).
* A client subscribing or leaving while the broker looped over its subscriptions (broadcast,
  retained messages on CONNECT) ended that loop half-way (`dictionary changed size during
  iteration`), and the subscribers not yet served never got the message (`SnapshotDict`).
"""

import asyncio
import json
from pathlib import Path

import aiomqtt

from broker.server import GuardedBroker, amqtt_config, running_broker
from broker.settings import BrokerSettings
from contract import Status, Topics, encode

T = Topics()
V311 = aiomqtt.ProtocolVersion.V311


def _settings(tmp_path: Path, persistence: bool) -> BrokerSettings:
    return BrokerSettings(
        port=0, allow_anonymous=True, persistence=persistence, data_dir=tmp_path / "data"
    )


def _client(port: int, name: str) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", port, identifier=name, protocol=V311, timeout=10)


async def _retained(port: int, topic_filter: str, expected: int) -> dict[str, bytes]:
    """The retained messages a fresh subscriber to `topic_filter` receives."""
    found: dict[str, bytes] = {}
    async with _client(port, "reader") as client:
        await client.subscribe(topic_filter, qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                found[message.topic.value] = bytes(message.payload)  # type: ignore[arg-type]
                if len(found) == expected:
                    return found
    return found


async def test_restart_says_offline_for_every_retained_online(tmp_path: Path) -> None:
    online = Status(state="online", agent_version="1.2.3", models=["face-detect-lite"])
    before = {
        T.status("cam-1"): encode(online),
        T.status("cam-2"): encode(Status(state="offline", agent_version="1.2.3")),
        T.status("cam-3"): b"not json",  # not ours to judge: left as it is
        T.twin_desired("cam-1"): b'{"ts": "2026-01-01T00:00:00Z"}',
    }
    async with running_broker(_settings(tmp_path, persistence=True)) as running:
        async with _client(running.port, "cam-writer") as writer:
            for topic, payload in before.items():
                await writer.publish(topic, payload, qos=1, retain=True)
        assert len(await _retained(running.port, "edgefleet/v1/#", len(before))) == len(before)
    async with running_broker(_settings(tmp_path, persistence=True)) as running:
        after = await _retained(running.port, "edgefleet/v1/#", len(before))
    restored = json.loads(after[T.status("cam-1")])
    assert restored["state"] == "offline"
    assert (restored["agent_version"], restored["models"]) == ("1.2.3", ["face-detect-lite"])
    assert {t: after[t] for t in list(before)[1:]} == dict(list(before.items())[1:])


async def test_subscription_table_survives_a_subscribe_while_iterated(tmp_path: Path) -> None:
    """amqtt awaits inside its loops over the table (ACL checks, retained publishes): a client
    subscribing meanwhile must not end the loop (RuntimeError: it lost that broadcast)."""
    async with running_broker(_settings(tmp_path, persistence=False)) as running:
        table = running.broker._subscriptions
        async with _client(running.port, "first") as first:
            await first.subscribe("load/1", qos=1)
            seen = []
            for topic_filter in table:  # as amqtt iterates, with an await in the body
                seen.append(topic_filter)
                async with _client(running.port, "second") as second:
                    await second.subscribe("load/2", qos=1)
            assert seen == ["load/1"]
            assert set(table) == {"load/1", "load/2"}


async def test_no_client_is_served_before_start_up_is_complete(tmp_path: Path) -> None:
    """Listeners open before the database's retained messages are restored and expired: a
    client served in that window had its fresh birth overwritten by a restored one."""
    settings = _settings(tmp_path, persistence=False)
    broker = GuardedBroker(amqtt_config(settings))
    await broker.start()
    try:
        port = broker._servers["default"].instance.sockets[0].getsockname()[1]
        connecting = asyncio.ensure_future(_client(port, "early").__aenter__())
        done, _ = await asyncio.wait({connecting}, timeout=0.5)
        assert not done, "CONNACK before start-up was complete"
        broker.accept_clients()
        client = await asyncio.wait_for(connecting, 10)
        await client.__aexit__(None, None, None)
    finally:
        await broker.shutdown()
