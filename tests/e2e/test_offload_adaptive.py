"""Adaptive offload end to end: real Mosquitto, hub and agent processes.

Saturating the agent's CPU moves traffic to the cloud and back when the load ends; killing the
hub keeps answers flowing from the edge.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from edgefleet.bench.procs import cpu_stress
from tests.fixtures.brokers import BrokerProcess
from tests.offload.fleet import FACE, Fleet, T, jpeg, rid, running_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto]

CPUS = sorted(os.sched_getaffinity(0))
QUIET_WAIT_S = 60.0  # the machine is shared: how long to wait for the agent's CPU to calm down
ADAPTIVE = {
    "offload": {
        "pipelines": {FACE: {"mode": "adaptive"}},
        "probe_interval_s": 0.5,
        "breaker_failures": 1,
        "breaker_cooldown_s": 1.0,
        "timeout_s": 1.0,
    },
}


def ask(fleet: Fleet, device: str, n: int, start: int, period_s: float = 0.05) -> list[str]:
    """Send `n` requests and return where each answer was computed."""
    probe = fleet.probe
    payload = jpeg()
    where = []
    for seq in range(start, start + n):
        probe.publish(T.infer(device, FACE, rid(seq)), payload)
        topic = T.result(device, FACE, rid(seq))
        where.append(probe.wait_for(lambda m, t=topic: m.topic == t, 10).json()["where"])
        time.sleep(period_s)  # a request rate, not a wait for a condition
    return where


def ask_until(
    fleet: Fleet, device: str, start: int, done: Callable[[list[str]], bool], max_batches: int = 6
) -> list[str]:
    """Ask in batches of 10 until `done(answers)` or `max_batches` (bounded): the promise is
    that traffic moves once the load changes, not within a fixed number of requests."""
    answers: list[str] = []
    for batch in range(max_batches):
        answers += ask(fleet, device, 10, start + 10 * batch)
        if done(answers):
            break
    return answers


def health_seq(fleet: Fleet, device: str) -> int:
    """The sequence number of the newest health message seen from `device` (-1: none)."""
    seqs = [m.json()["seq"] for m in fleet.probe.messages if m.topic == T.health(device)]
    return max(seqs, default=-1)


def wait_health(
    fleet: Fleet, device: str, test: Callable[[dict[str, Any]], bool], timeout: float = 15.0
) -> None:
    """Wait for a health message newer than now that passes `test` (cpu sampled busy/idle)."""
    after = health_seq(fleet, device)
    fleet.probe.wait_for(
        lambda m: m.topic == T.health(device) and (h := m.json())["seq"] > after and test(h),
        timeout,
    )


def idlest_cpu() -> int:
    per_cpu = psutil.cpu_percent(interval=0.5, percpu=True)
    return min(CPUS, key=lambda c: per_cpu[c] if c < len(per_cpu) else 100.0)


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of a process (the inference worker threads too, not just the main)."""
    for thread in psutil.Process(pid).threads():
        os.sched_setaffinity(thread.id, cpus)


def wait_quiet(fleet: Fleet, device: str) -> None:
    """Other engineers' jobs share this machine: a CPU that stays busy without our stress
    means there is no idle phase to test (skip), not a broken policy."""
    try:
        wait_health(fleet, device, lambda h: h["cpu"] < 0.5, QUIET_WAIT_S)
    except AssertionError:
        pytest.skip(f"the agent's CPU stayed >= 50 % busy for {QUIET_WAIT_S:.0f} s without stress")


def offload_counters(fleet: Fleet, device: str) -> dict[str, Any]:
    health = [m.json() for m in fleet.probe.messages if m.topic == T.health(device)]
    last = health[-1] if health else {}
    counters = {k: v for k, v in last.get("counters", {}).items() if "offload" in k}
    return {"counters": counters, "cpu": last.get("cpu"), "infer_ms_p50": last.get("infer_ms_p50")}


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.xfail(
    strict=False,
    reason="quarantined, issue #3 still open: passes most runs but failed 3 of ~12 on a quiet "
    "2-core box (traffic returned to the edge late, or idle requests went to the cloud); "
    "runs every time and reports XPASS/XFAIL - see docs/offload.md 'Known gaps'",
)
@pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs: agent and stress on one, hub on another")
def test_cpu_saturation_moves_to_cloud_and_back(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    """The cloud's cost is the hub's Server-Timing plus the link's floor RTT, so a starved
    agent (whose own loop inflates every call it times) still sees a cheap cloud; its local
    cost (queue wait + inference) grows, so traffic moves; once the load is gone, the stale
    local numbers are re-measured and traffic comes back."""
    with running_fleet(tmp_path, mosquitto_broker, 1, **ADAPTIVE) as fleet:
        agent = fleet.agents[0]
        assert agent.proc is not None
        agent_cpu = {idlest_cpu()}
        pin(agent.proc.pid, agent_cpu)
        d = agent.device
        wait_quiet(fleet, d)
        # the first requests may probe the cloud (no measurements yet); then it stays local
        idle = ask_until(fleet, d, 0, lambda a: a[-10:].count("edge") >= 8, max_batches=5)
        assert idle[-10:].count("edge") >= 8, (idle, offload_counters(fleet, d))
        with cpu_stress(3, seconds=60, cpus=agent_cpu):
            wait_health(fleet, d, lambda h: h["cpu"] >= 0.9)  # the sampler sees the CPU busy
            loaded = ask_until(fleet, d, 100, lambda a: a[-10:].count("cloud") >= 7)
        assert loaded[-10:].count("cloud") >= 7, (loaded, offload_counters(fleet, d))
        wait_quiet(fleet, d)  # the load sampler sees the CPU idle again
        after = ask_until(fleet, d, 200, lambda a: a[-10:].count("edge") >= 8)
        assert after[-10:].count("edge") >= 8, (after, offload_counters(fleet, d))
        share = {k: f"{v.count('cloud')}/{len(v)}" for k, v in
                 {"idle": idle, "loaded": loaded, "after": after}.items()}  # fmt: skip
        print(f"to the cloud: {share}; {offload_counters(fleet, d)}")


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
