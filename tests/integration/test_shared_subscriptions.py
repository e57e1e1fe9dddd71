"""Several hub replicas split ingest with shared subscriptions (`mqtt_shared_group`), on
Mosquitto: two bridges in one group, every message ingested exactly once, both get some."""

import asyncio
from collections.abc import Callable

import pytest

from cloud_hub.core.config import Settings
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.ingest.bridge import MqttBridge, subscriptions
from cloud_hub.ingest.inbound import Inbound
from contract import Event, Topics, encode
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe

T = Topics()
N = 200
TIMEOUT = 15.0


class RecordingWriter:
    """Stands in for the SQL writer: records what the bridge hands over."""

    def __init__(self) -> None:
        self.listeners: list[object] = []
        self.got: list[Inbound] = []
        self.changed = asyncio.Event()

    def offer(self, inbound: Inbound) -> bool:
        self.got.append(inbound)
        self.changed.set()
        return True

    def put(self, inbound: Inbound) -> None:
        self.offer(inbound)


def test_shared_filters() -> None:
    shared = subscriptions(T, "hub")
    assert shared
    assert all(f.startswith("$share/hub/edgefleet/v1/+/") for f, _ in shared)
    assert [f for f, _ in subscriptions(T)] == [f.removeprefix("$share/hub/") for f, _ in shared]
    with pytest.raises(ValueError, match="mqtt_shared_group"):
        Settings(mqtt_shared_group="a/b")


@pytest.mark.mosquitto
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_two_replicas_split_ingest(
    make_settings: Callable[..., Settings], mosquitto_broker: BrokerProcess
) -> None:
    writers, bridges, tasks = [], [], []
    for i in range(2):
        settings = make_settings(
            mqtt_enabled=True, mqtt_port=mosquitto_broker.port, mqtt_username=None,
            mqtt_client_id=f"hub-replica-{i}", mqtt_shared_group="hub", mqtt_acks=False,
        )  # fmt: skip
        writer = RecordingWriter()
        bridge = MqttBridge(settings, writer, HubMetrics())  # type: ignore[arg-type]
        writers.append(writer)
        bridges.append(bridge)
        tasks.append(asyncio.create_task(bridge.run()))
    try:
        for bridge in bridges:
            await asyncio.wait_for(bridge.connected.wait(), TIMEOUT)
        device = MqttProbe(mosquitto_broker.host, mosquitto_broker.port, client_id="cam-1")
        device.connect()
        try:
            for i in range(N):
                payload = encode(Event(kind="face", model="m", msg_id=f"m{i}", data={"i": i}))
                await asyncio.to_thread(device.publish, T.event("cam-1", "face"), payload)
        finally:
            device.close()
        async with asyncio.timeout(TIMEOUT):
            while sum(len(w.got) for w in writers) < N:
                for w in writers:
                    w.changed.clear()
                await asyncio.wait(
                    [asyncio.create_task(w.changed.wait()) for w in writers],
                    return_when=asyncio.FIRST_COMPLETED,
                )
        ids = [inbound.payload for w in writers for inbound in w.got]
        assert len(ids) == N
        assert len(set(ids)) == N  # each message ingested once
        assert all(w.got for w in writers), [len(w.got) for w in writers]  # both got some
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
