"""Edge measurement over MQTT: a real agent process on a loopback broker.

Sequential requests (p50/p99), a pipelined window (sustained rate), and the agent's
footprint: cold start (spawn -> first result received) and RSS with the light models."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgefleet.bench.client import (
    RESULT_TIMEOUT_S,
    Client,
    any_received,
    new_rid,
    request,
    wait_online,
)
from edgefleet.bench.edge.config import LIGHT_MODELS, TARGET_MODEL, EdgeBenchConfig
from edgefleet.bench.edge.inputs import BenchInput, bench_input
from edgefleet.bench.stats import Summary, bounded
from edgefleet.procs.agent import compile_agent, spawn_agent, write_agent_config
from edgefleet.procs.process import stop_process


@dataclass
class AgentHandle:
    device: str
    proc: subprocess.Popen[bytes]
    spawned: float  # perf_counter at spawn
    log: Path

    def wait_online(self, client: Client) -> None:
        wait_online(client, self.device, self.proc, self.log)

    def stop(self) -> int:
        return stop_process(self.proc)


def start_agent(
    workdir: Path, port: int, device: str, models: tuple[str, ...], workers: int = 1
) -> AgentHandle:
    config = write_agent_config(
        workdir / f"{device}.yaml",
        device,
        models,
        port=port,
        health_interval_s=30.0,
        extra={"workers_per_model": workers},
    )
    log = workdir / f"{device}.log"
    t0 = time.perf_counter()
    proc = spawn_agent(config, log=log, log_level="WARNING")
    return AgentHandle(device, proc, t0, log)


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)


def anon_mb(pid: int) -> float | None:
    """The process's anonymous memory (heap, arenas, stacks: what it allocated), from
    /proc/PID/smaps_rollup; None where the kernel has no such file. The rest of the RSS is
    library and model files mapped from the page cache, and how much of those the kernel maps
    in depends on what it has cached (docs/benchmarks.md, "Footprint")."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return None


@dataclass
class MqttLatency:
    latency: Summary
    agent_latency_p50: float | None  # the agent's own latency_ms (arrival -> result ready)


def measure_latency(
    client: Client, device: str, model: str, payload: bytes, cfg: EdgeBenchConfig
) -> MqttLatency:
    """Sequential latency: one request at a time, after `warmup` unmeasured ones. (The
    pipelined rates are measured in interleaved rounds: bench/edge/rates.py.)"""
    for _ in range(cfg.warmup):
        request(client, device, model, payload)
    times: list[float] = []
    agent_ms: list[float] = []
    for _ in bounded(cfg.requests, cfg.time_limit_s):
        ms, body = request(client, device, model, payload)
        times.append(ms)
        with contextlib.suppress(Exception):
            agent_ms.append(float(json.loads(body)["latency_ms"]))
    return MqttLatency(Summary.of(times), statistics.median(agent_ms) if agent_ms else None)


def pipelined(
    client: Client, device: str, model: str, payload: bytes, cfg: EdgeBenchConfig
) -> tuple[float, int, int]:
    """Keep `window` requests in flight; rate = answered / (first publish -> last answer)."""
    sem = threading.Semaphore(cfg.window)
    rids: list[str] = []
    with client.cond:
        client.in_flight = sem
    deadline = time.perf_counter() + cfg.time_limit_s
    start = time.perf_counter()
    try:
        for _ in range(cfg.throughput_requests):
            if not sem.acquire(timeout=RESULT_TIMEOUT_S) or time.perf_counter() > deadline:
                break
            rid = new_rid("p")
            rids.append(rid)
            client.publish(client.topics.infer(device, model, rid), payload)
        client.wait(lambda: all(r in client.received for r in rids), RESULT_TIMEOUT_S)
    finally:
        with client.cond:
            client.in_flight = None
            got = [client.received.pop(r)[0] for r in rids if r in client.received]
    if not got:
        return math.nan, 0, len(rids)
    elapsed = max(got) - start
    return len(got) / elapsed, len(got), len(rids) - len(got)


@dataclass
class Footprint:
    cold_start_ms: list[float] = field(default_factory=list)
    online_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    anon_mb: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    load: LoadFootprint | None = None


@dataclass
class LoadFootprint:
    """The light-models agent's RSS idle, right after a pipelined burst with busy loops
    competing for the cores, and one `memory` duty period later."""

    idle_mb: float
    after_mb: float
    settled_mb: float
    answered: int
    lost: int
    stress: int


def measure_footprint(
    client: Client,
    workdir: Path,
    port: int,
    broker: str,
    cfg: EdgeBenchConfig,
    inputs: dict[str, BenchInput],
) -> Footprint:
    """Cold start (spawn -> first face result) and RSS with the light models, `cold_starts`x,
    with the agent's packages byte-compiled as on an installed device."""
    compile_agent()
    fp = Footprint()
    face, voice = _light_inputs(inputs)
    for i in range(cfg.cold_starts):
        agent = start_agent(workdir, port, f"bench-cold-{broker}-{i}", LIGHT_MODELS)
        try:
            # publish as soon as the agent is online (it subscribes before its birth)
            agent.wait_online(client)
            fp.online_ms.append((time.perf_counter() - agent.spawned) * 1000)
            first = _first_result(client, agent.device, face.payload)
            fp.cold_start_ms.append((first - agent.spawned) * 1000)
            fp.rss_mb.append(_served_rss(client, agent, face, voice))
            anon = anon_mb(agent.proc.pid)
            if anon is not None:
                fp.anon_mb.append(anon)
        finally:
            fp.exit_codes.append(agent.stop())
            with client.cond:
                client.received.clear()
    return fp


def _light_inputs(inputs: dict[str, BenchInput]) -> tuple[BenchInput, BenchInput]:
    """The face image and wake-word clip the light models are served (made once per run)."""
    face = inputs.get(TARGET_MODEL) or bench_input(TARGET_MODEL)
    return face, inputs.get("wakeword-lite") or bench_input("wakeword-lite")


# What an agent loads after start-up is in by then: psutil, imported by the `load` task one
# sampling interval (0.5 s) after start (edge_agent/load.py).
SETTLED_AFTER_S = 2.0


def _served_rss(client: Client, agent: AgentHandle, face: BenchInput, voice: BenchInput) -> float:
    """Once the agent has run `SETTLED_AFTER_S`, serve both light models 5 times, then read its
    RSS: the idle footprint."""
    time.sleep(max(0.0, agent.spawned + SETTLED_AFTER_S - time.perf_counter()))
    for _ in range(5):
        request(client, agent.device, TARGET_MODEL, face.payload)
        request(client, agent.device, "wakeword-lite", voice.payload)
    return rss_mb(agent.proc.pid)


def measure_under_load(
    client: Client,
    workdir: Path,
    port: int,
    broker: str,
    cfg: EdgeBenchConfig,
    inputs: dict[str, BenchInput],
) -> LoadFootprint:
    """`cfg.load_requests` pipelined face requests while `cfg.load_stress` busy loops run."""
    from edgefleet.procs.stress import cpu_stress

    face, voice = _light_inputs(inputs)
    agent = start_agent(workdir, port, f"bench-load-{broker}", LIGHT_MODELS)
    try:
        agent.wait_online(client)
        idle = _served_rss(client, agent, face, voice)
        burst = replace(cfg, throughput_requests=cfg.load_requests)
        with cpu_stress(cfg.load_stress, cfg.time_limit_s + 10):
            _rate, answered, lost = pipelined(
                client, agent.device, TARGET_MODEL, face.payload, burst
            )
        after = rss_mb(agent.proc.pid)
        time.sleep(cfg.load_settle_s)  # one period of the agent's memory duty
        settled = rss_mb(agent.proc.pid)
    finally:
        agent.stop()
    return LoadFootprint(idle, after, settled, answered, lost, cfg.load_stress)


def _first_result(client: Client, device: str, payload: bytes) -> float:
    """perf_counter when the first answer arrived; a request every 50 ms in case the very
    first one raced the agent's subscription."""
    rids: list[str] = []
    deadline = time.perf_counter() + RESULT_TIMEOUT_S
    while time.perf_counter() < deadline:
        rid = new_rid("c")
        rids.append(rid)
        client.publish(client.topics.infer(device, TARGET_MODEL, rid), payload)
        client.wait(functools.partial(any_received, client, tuple(rids)), 0.05)
        with client.cond:
            hits = [client.received[r][0] for r in rids if r in client.received]
        if hits:
            return min(hits)
    raise RuntimeError(f"agent {device}: no first result")
