"""`online` means ready to serve, on both brokers, also right after a broker restart.

The topic contract tells a third party to wait for a device's retained `online` before it
sends requests. The agent publishes that birth only after the broker acknowledged every
subscription (edge_agent/link.py), and the embedded broker replaces the `online` it restores
from its database after a restart with `offline` (broker/presence.py): otherwise the first
requests after a restart went to a device that had not re-subscribed yet, and were lost.

Here a third party reconnects after each restart (SIGKILL and SIGTERM), waits for `online`
and publishes a QoS 1 request the moment it sees it: every such request must be answered.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import Kind
from edgefleet.procs import AgentProcess, agent_config
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe
from tests.offload.fleet import FACE, T, jpeg

pytestmark = [pytest.mark.e2e]

DEVICE = "ready-0"
RESTARTS = 3


@pytest.fixture
def agent(tmp_path: Path, broker: BrokerProcess) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path / "agents", agent_config(DEVICE, broker.port))
    process.start()
    yield process
    process.stop()


def ask_when_online(
    broker: BrokerProcess, agent: AgentProcess, rid: str, image: bytes, since: datetime
) -> str:
    """A third party's first minute: subscribe, wait for `online`, ask at once. The `online`
    must be newer than `since` (the restart): an older one is a stale birth the broker kept.
    Returns the state that was retained when it subscribed, for the report."""
    client = MqttProbe(broker.host, broker.port).connect()
    try:
        client.subscribe(T.status(DEVICE), T.filter(Kind.RESULT, DEVICE))
        first = client.wait_for(T.status(DEVICE), timeout=15)
        online = client.wait_for(
            lambda m: m.topic == T.status(DEVICE) and m.json()["state"] == "online", timeout=15
        )
        born = datetime.fromisoformat(online.json()["ts"])
        assert born >= since, f"stale `online` of {born} served after the restart at {since}"
        client.publish(T.infer(DEVICE, FACE, rid), image)
        try:
            client.wait_for(T.result(DEVICE, FACE, rid), timeout=15)
        except AssertionError:
            raise AssertionError(f"{rid} unanswered; agent log:\n{agent.log_tail()}") from None
        return str(first.json()["state"])
    finally:
        client.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("hard", [True, False], ids=["sigkill", "sigterm"])
def test_request_sent_on_online_is_answered_after_restarts(
    broker: BrokerProcess, agent: AgentProcess, hard: bool
) -> None:
    image = jpeg()
    seen = [ask_when_online(broker, agent, "first", image, datetime.min.replace(tzinfo=UTC))]
    for round_ in range(RESTARTS):
        since = datetime.now(UTC)
        broker.restart(hard=hard)
        started = time.monotonic()
        seen.append(ask_when_online(broker, agent, f"after-restart-{round_}", image, since))
        print(f"{broker.name} restart {round_}: answered {time.monotonic() - started:.2f} s later")
    print(f"{broker.name}: retained state seen on subscribing, per round: {seen}")
