"""Adaptive offload end to end: real Mosquitto, hub and agent processes.

Saturating the agent's CPU moves traffic to the cloud and back when the load ends; killing the
hub keeps answers flowing from the edge.
"""

import os
import time
from pathlib import Path

import pytest

from edgefleet.bench.procs import cpu_stress
from tests.fixtures.brokers import BrokerProcess
from tests.offload.fleet import FACE, T, jpeg, rid, running_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto]

CPUS = sorted(os.sched_getaffinity(0))
AGENT_CPU = {CPUS[0]}
ADAPTIVE = {
    "offload": {
        "pipelines": {FACE: {"mode": "adaptive"}},
        "probe_interval_s": 0.5,
        "breaker_failures": 1,
        "breaker_cooldown_s": 1.0,
        "timeout_s": 1.0,
    },
}


def ask(fleet: object, device: str, n: int, start: int, period_s: float = 0.05) -> list[str]:
    """Send `n` requests and return where each answer was computed."""
    probe = fleet.probe  # type: ignore[attr-defined]
    payload = jpeg()
    where = []
    for seq in range(start, start + n):
        probe.publish(T.infer(device, FACE, rid(seq)), payload)
        topic = T.result(device, FACE, rid(seq))
        where.append(probe.wait_for(lambda m, t=topic: m.topic == t, 10).json()["where"])
        time.sleep(period_s)  # a request rate, not a wait for a condition
    return where


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.xfail(
    reason="known gap: on a saturated core the agent's own loop inflates measured cloud calls "
    "(>150 ms), so adaptive keeps choosing the edge; see docs/offload.md",
    strict=False,
)
@pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs: agent and stress on one, hub on another")
def test_cpu_saturation_moves_to_cloud_and_back(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    with running_fleet(tmp_path, mosquitto_broker, 1, **ADAPTIVE) as fleet:
        agent = fleet.agents[0]
        assert agent.proc is not None
        os.sched_setaffinity(agent.proc.pid, AGENT_CPU)
        d = agent.device
        idle = ask(fleet, d, 20, 0)
        assert idle[-10:].count("edge") >= 8, idle
        with cpu_stress(3, seconds=30, cpus=AGENT_CPU):
            time.sleep(1.5)  # the load sampler sees the CPU busy
            loaded = ask(fleet, d, 30, 100)
        health = [m.json() for m in fleet.probe.messages if m.topic == T.health(d)]
        assert loaded[-15:].count("cloud") >= 10, (
            loaded,
            {k: v for k, v in health[-1]["counters"].items() if "offload" in k},
            health[-1]["cpu"],
            health[-1]["infer_ms_p50"],
        )
        time.sleep(2.0)
        after = ask(fleet, d, 30, 200)
        assert after[-10:].count("edge") >= 8, after
        print(f"idle {idle.count('cloud')}/20 cloud; loaded {loaded.count('cloud')}/30 cloud; "
              f"after {after.count('cloud')}/30 cloud")  # fmt: skip


@pytest.mark.timeout(120)
def test_hub_killed_answers_keep_flowing_from_edge(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    cascade = {"offload": {**ADAPTIVE["offload"], "pipelines": {FACE: {"mode": "cascade"}}}}
    with running_fleet(tmp_path, mosquitto_broker, 1, **cascade) as fleet:
        d = fleet.agents[0].device
        before = ask(fleet, d, 5, 0, period_s=0.0)
        fleet.hub.kill()
        after = ask(fleet, d, 20, 100, period_s=0.0)
        assert len(after) == 20
        assert after[-15:] == ["edge"] * 15, after
        errors = [m for m in fleet.probe.messages if m.topic == T.error(d)]
        assert errors == []
        print(f"hub up: {before}; hub killed: {after.count('edge')}/20 from the edge")
