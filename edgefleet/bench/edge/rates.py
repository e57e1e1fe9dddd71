"""Sustained rates in interleaved rounds: in-process, then each MQTT agent, `rounds` times.

This machine has slow and fast phases minutes apart that move any one rate by ±10 % or more;
a ratio of two bursts measured minutes apart (the in-process rate at the start, an MQTT burst
later) swung from 65 % to 102 % between runs of unchanged code (docs/bench/2026-12-06). So the
rates a target compares are measured side by side: each round runs one in-process burst and one
pipelined burst per agent (one agent per `workers` value, all started before the first round;
the order rotates per round), and each ratio is taken within a round. The checked figures are
the medians of those per-round ratios; every round's numbers are kept in the JSON."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgefleet.bench.client import Client
from edgefleet.bench.edge import cpu
from edgefleet.bench.edge.compute import in_process_rate
from edgefleet.bench.edge.config import EdgeBenchConfig
from edgefleet.bench.edge.mqtt import AgentHandle, pipelined


@dataclass
class Burst:
    """One pipelined MQTT burst."""

    rate: float
    answered: int
    lost: int
    cpu_s: dict[str, float] | None  # CPU seconds per role over the burst (bench/edge/cpu.py)


@dataclass
class Rounds:
    """Per round: the in-process rate and one burst per agent (keyed by its workers)."""

    in_process: list[float] = field(default_factory=list)
    bursts: dict[int, list[Burst]] = field(default_factory=dict)

    def ratios(self, workers: int) -> list[float]:
        """MQTT rate over the same round's in-process rate."""
        return [b.rate / ip for b, ip in zip(self.bursts[workers], self.in_process, strict=True)]

    def scaling(self, workers: int, base: int = 1) -> list[float]:
        """Rate with `workers` over the same round's rate with `base` workers."""
        pairs = zip(self.bursts[workers], self.bursts[base], strict=True)
        return [b.rate / a.rate for b, a in pairs if a.rate > 0]

    def cpu_ms(self, workers: int) -> dict[str, float] | None:
        """ms of CPU per answered request by role, over all rounds, and their total."""
        bursts = [b for b in self.bursts[workers] if b.cpu_s is not None]
        answered = sum(b.answered for b in bursts)
        if not bursts or not answered:
            return None
        out = {r: sum(b.cpu_s[r] for b in bursts if b.cpu_s) * 1000 / answered for r in cpu.ROLES}
        out["total"] = sum(out.values())
        return out

    def fields(self, workers: int) -> dict[str, Any]:
        """The row fields of one MQTT level: median rate and ratios, and every round."""
        bursts = self.bursts[workers]
        ratios = self.ratios(workers)
        out: dict[str, Any] = {
            "rate": statistics.median(b.rate for b in bursts),
            "rate_n": sum(b.answered for b in bursts),
            "lost": sum(b.lost for b in bursts),
            "rate_ratio": statistics.median(ratios),
            "rounds": len(bursts),
            "rate_rounds": [b.rate for b in bursts],
            "rate_ratio_rounds": ratios,
            "inproc_rate_rounds": list(self.in_process),
        }
        if workers != 1 and 1 in self.bursts:
            scaling = self.scaling(workers)
            out["scaling"] = statistics.median(scaling) if scaling else None
            out["scaling_rounds"] = scaling
        return out


def interleaved(
    client: Client,
    agents: Mapping[int, AgentHandle],
    model: str,
    payload: bytes,
    cfg: EdgeBenchConfig,
    broker_pid: int,
    pipeline: Any,
) -> Rounds:
    """`cfg.rounds` rounds of: an in-process burst, then a pipelined burst per agent (the
    agents' order rotating per round)."""
    out = Rounds(bursts={w: [] for w in agents})
    order = list(agents)
    for i in range(cfg.rounds):
        out.in_process.append(in_process_rate(pipeline, payload, cfg)[0])
        shift = i % len(order)
        for workers in order[shift:] + order[:shift]:
            agent = agents[workers]
            pids = (agent.proc.pid, broker_pid)
            before = cpu.sample(*pids)
            rate, answered, lost = pipelined(client, agent.device, model, payload, cfg)
            spent = cpu.spent(before, cpu.sample(*pids))
            out.bursts[workers].append(Burst(rate, answered, lost, spent))
    return out
