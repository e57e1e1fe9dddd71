"""The federated targets (docs/benchmarks.md): aggregation of 100 clients within 2 s, int8
updates at most 30 % of fp32, FedAvg within 3 points of centralised and 5 above local-only, robust
aggregation holding against 2 of 10 poisoned clients where FedAvg visibly degrades."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefleet.bench.fl.config import FlBenchConfig
from edgefleet.bench.fl.sim import SimResults
from edgefleet.bench.report import Check, check_max, check_min


def fl_checks(cfg: FlBenchConfig, sim: SimResults, finished: list[dict[str, Any]]) -> list[Check]:
    """`finished`: the live rounds that published a version or were refused by the accuracy
    gate (aggregated and validated either way; docs/federated.md)."""
    fp32 = [r["bytes_per_update"] for r in finished if r["quantization"] == "none"]
    int8 = [r["bytes_per_update"] for r in finished if r["quantization"] == "int8"]
    agg = max((float(r["aggregation_ms"]) for r in finished), default=None)
    best_robust = float(max(sim.poisoned["trimmed_mean"], sim.poisoned["median"]))
    fed_end, central_end = float(sim.fedavg[-1]), float(sim.centralised[-1])
    clean10 = float(sim.clean10)
    return [
        check_max(
            f"aggregation, {cfg.clients} clients (worst round)",
            None if agg is None else agg / 1000.0,
            2.0,
            "s",
        ),
        check_max(
            "int8 / fp32 bytes per update",
            float(100.0 * np.mean(int8) / np.mean(fp32)) if fp32 and int8 else None,
            30.0,
            "%",
        ),
        check_max("centralised - FedAvg accuracy", central_end - fed_end, 3.0, "points"),
        check_min(
            "FedAvg - local-only accuracy",
            fed_end - float(sim.local),
            5.0,
            "points",
            "clearly above",
        ),
        check_max("clean - robust (2 of 10 poisoned)", clean10 - best_robust, 1.0, "points"),
        check_min(
            "clean - FedAvg (2 of 10 poisoned)",
            clean10 - float(sim.poisoned["fedavg"]),
            5.0,
            "points",
            "visibly degrades",
        ),
        check_min(
            "live rounds finished (published or refused by the gate)",
            float(len(finished)),
            2 * cfg.live_rounds,
        ),
    ]
