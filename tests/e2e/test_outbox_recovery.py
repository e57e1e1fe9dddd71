"""Durable outbox end to end: real brokers (amqtt and Mosquitto), hub and agent processes.

* hub down 60 s while three agents publish results at 10/s: afterwards every result is in the
  hub exactly once and in per-device order;
* broker SIGKILL + restart, five times: agents are online again within 5 s of the broker
  listening, nothing lost.
"""

import time
from pathlib import Path

import pytest

from tests.fixtures.brokers import BrokerProcess
from tests.offload.fleet import (
    FACE,
    Driver,
    Fleet,
    T,
    hub_results,
    in_order,
    outbox_pending,
    running_fleet,
    wait_results,
)

pytestmark = [pytest.mark.e2e]


def result_topic(device: str, rid: str) -> str:
    return T.result(device, FACE, rid)


# resends every 2 s, backing off to 8 s at most while the hub is away (60 s by default): the
# drain after the hub's return starts within 8 s
AGENT = {"outbox": {"ack_timeout_s": 2.0, "ack_timeout_max_s": 8.0}}


def check_exactly_once_in_order(fleet: Fleet, sent: dict[str, list[str]]) -> dict[str, int]:
    """Per device: every sent rid stored once, insertion order = request order; returns the
    number lost per device (0 expected). Loss and duplicates are checked for every device
    before the order. On amqtt, which drops QoS 1 messages for the absent hub, the order holds
    because the hub accepts each device's stream in sequence only (docs/offload.md)."""
    rows = hub_results(fleet.hub.db_path)
    lost, disorder = {}, []
    for device, rids in sent.items():
        stored = [r for _, r, _ in rows.get(device, [])]
        assert len(stored) == len(set(stored)), f"{device}: duplicates in the hub"
        lost[device] = len(set(rids) - set(stored))
        if not in_order(stored):
            disorder.append(device)
    pending = outbox_pending(fleet.agents) if any(lost.values()) else {}
    assert lost == dict.fromkeys(sent, 0), f"lost per device: {lost}; still in outboxes: {pending}"
    assert not disorder, f"results stored out of order for {disorder} (none lost or doubled)"
    return lost


@pytest.mark.long
@pytest.mark.timeout(330)
def test_hub_down_60s_nothing_lost(tmp_path: Path, broker: BrokerProcess) -> None:
    """On both brokers: zero loss comes from the outbox and the hub's acks, not from the broker
    keeping a session (amqtt keeps none for the hub while it is away)."""
    with running_fleet(tmp_path, broker, 3, **AGENT) as fleet:
        driver = Driver(fleet.probe, fleet.devices, period_s=0.1, max_requests=800)
        driver.start()
        try:
            time.sleep(5)  # load phase: results flow with the hub up
            fleet.hub.kill()
            time.sleep(60)  # results keep coming while the hub is away
            fleet.hub.start()
            time.sleep(5)
        finally:
            driver.stop()
        # a minute of backlog drains at the outbox's ack-paced rate: on a loaded machine with
        # coverage tracing every process that took over 120 s while results kept arriving, so
        # the test waits while there is progress (stall_s) and gives up at 180 s in all
        found = wait_results(fleet.hub.db_path, driver.sent, stall_s=30, cap_s=180)
        lost = check_exactly_once_in_order(fleet, driver.sent)
        print(f"hub down 60 s: sent {driver.total()}, lost per device {lost}")
        assert sum(len(v) for v in found.values()) == driver.total()
        assert lost == dict.fromkeys(fleet.devices, 0)


@pytest.mark.long
@pytest.mark.timeout(240)
def test_broker_kill_restart_5_times(tmp_path: Path, broker: BrokerProcess) -> None:
    with running_fleet(tmp_path, broker, 3, **AGENT) as fleet:
        sender = type(fleet.probe)(broker.host, broker.port).connect()
        driver = Driver(sender, fleet.devices, period_s=0.1, max_requests=1000)
        driver.start()
        report: list[float] = []
        starts: list[float] = []
        try:
            for round_ in range(5):
                time.sleep(2)
                driver.pause(True)
                for d, rids in driver.sent.items():  # the newest request answered
                    topic = result_topic(d, rids[-1])
                    fleet.probe.wait_for(lambda m, t=topic: bool(m.topic == t), 15)
                broker.kill()
                fleet.probe.close()
                killed = time.monotonic()
                broker.start()
                back = time.monotonic()  # the agents' reconnect is timed from here: a loaded
                starts.append(round(back - killed, 2))  # machine starts a broker slowly
                fleet.probe = type(fleet.probe)(broker.host, broker.port).connect()
                fleet.probe.subscribe("edgefleet/v1/+/status")
                fleet.wait_online(timeout=10)
                reconnect_s = time.monotonic() - back
                fleet.probe.subscribe("edgefleet/v1/#")
                driver.probe.close()
                driver.probe = type(fleet.probe)(broker.host, broker.port).connect()
                driver.pause(False)
                report.append(round(reconnect_s, 2))
                assert reconnect_s < 5.0, f"round {round_}: reconnect took {reconnect_s:.1f} s"
        finally:
            driver.stop()
            driver.probe.close()
        wait_results(fleet.hub.db_path, driver.sent, stall_s=30)
        print(
            f"broker {broker.name} restarts: broker start s {starts}, agents online s "
            f"{report} after it; sent {driver.total()}"
        )
        lost = check_exactly_once_in_order(fleet, driver.sent)
        assert lost == dict.fromkeys(fleet.devices, 0)
