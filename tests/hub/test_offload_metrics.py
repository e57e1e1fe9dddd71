"""`/metrics` keeps the offload decisions bounded: no per-device series growing with the fleet
(issue #14). Heartbeats travel the real path: a real broker, the bridge, the SQL writer."""

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contract import Health, Topics, encode
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.hub.conftest import Hub

T = Topics()
T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)
CLOUD = 'edgefleet_hub_offload_decisions_total{reason="cloud_faster",where="cloud"}'
EDGE = 'edgefleet_hub_offload_decisions_total{reason="edge_faster",where="edge"}'


def heartbeat(seq: int, at_s: int, **counters: int) -> bytes:
    return encode(
        Health(
            cpu=0.1,
            mem=0.1,
            queue_depth=0,
            uptime_s=seq,
            seq=seq,
            ts=T0 + timedelta(seconds=at_s),
            counters={f"offload.{k.replace('__', '.')}": v for k, v in counters.items()}
            | {"requests": seq},
        )
    )


async def metrics(hub: Hub) -> str:
    r = await hub.client.get("/metrics", headers=hub.admin)
    assert r.status_code == 200
    return r.text


def value(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert found, f"{series} not in /metrics"
    return float(found.group(1))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
async def test_offload_decisions_have_no_device_series_and_add_up_over_the_fleet(
    bridged: Hub, broker: BrokerProcess
) -> None:
    devices = [f"cam-{i}" for i in range(3)]
    for d in devices:
        await bridged.enroll(d)
    client = MqttProbe(broker.host, broker.port, client_id="fleet").connect()
    sent = 0
    try:
        for d in devices:  # each device: two heartbeats, counters growing
            client.publish(T.health(d), heartbeat(0, 0, cloud__cloud_faster=2))
            client.publish(T.health(d), heartbeat(1, 5, cloud__cloud_faster=3, edge__edge_faster=4))
            sent += 2
        await asyncio.to_thread(bridged.app.state.writer.wait_processed, sent, 15)
        deleted = devices.pop()
        r = await bridged.client.delete(f"/api/v1/devices/{deleted}", headers=bridged.admin)
        assert r.status_code == 204
        text = await metrics(bridged)
        offload = [line for line in text.splitlines() if "offload" in line]
        assert not [line for line in offload if "device=" in line], offload
        assert deleted not in text
        assert value(text, CLOUD) == 9  # 3 devices x 3
        assert value(text, EDGE) == 12

        # cam-0 restarts (seq and counters from 0), then an old heartbeat is redelivered
        client.publish(T.health("cam-0"), heartbeat(0, 20, cloud__cloud_faster=1))
        client.publish(
            T.health("cam-0"), heartbeat(1, 5, cloud__cloud_faster=3, edge__edge_faster=4)
        )
        # cam-1's next heartbeat adds what was decided since its previous one
        client.publish(
            T.health("cam-1"), heartbeat(2, 10, cloud__cloud_faster=10, edge__edge_faster=4)
        )
        sent += 3
        await asyncio.to_thread(bridged.app.state.writer.wait_processed, sent, 15)
    finally:
        client.close()
    text = await metrics(bridged)
    assert value(text, CLOUD) == 9 + 1 + 7
    assert value(text, EDGE) == 12
    assert not [line for line in text.splitlines() if "device=" in line]

    # per-device figures stay in the registry API: the latest heartbeat's counters
    r = await bridged.client.get("/api/v1/devices/cam-1/health", headers=bridged.admin)
    health: dict[str, Any] = r.json()["last_health"]
    assert health["counters"]["offload.cloud.cloud_faster"] == 10
