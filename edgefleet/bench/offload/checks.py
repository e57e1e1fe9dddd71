"""The offload targets (docs/benchmarks.md): adaptive's p99 within 10 % of the best single
target's (edge-only, cloud-only, and gateway-only where there is a gateway) in every scenario,
cascade more accurate than edge-only, and no failed answer with the cloud down."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from edgefleet.bench.offload.config import KINDS, MODE_TITLES, P99_SLACK, SINGLE_TARGETS
from edgefleet.bench.offload.report import find_row
from edgefleet.bench.report import Check, Report, check_max, check_min


def checks(report: Report, scenarios: Sequence[str]) -> list[Check]:
    out: list[Check] = []
    for kind in KINDS:
        out += _adaptive_p99(report, kind, scenarios)
        out += _cascade_gain(report, kind)
    if "down" in scenarios:
        out += _cloud_down(report)
    return out


def _adaptive_p99(report: Report, kind: str, scenarios: Sequence[str]) -> list[Check]:
    """Per scenario with adaptive, edge-only and cloud-only measured: adaptive's p99 against the
    best p99 of the single targets measured there (gateway-only too, in `gateway`)."""
    out = []
    for scenario in scenarios:
        adaptive = find_row(report, kind, scenario, "adaptive")
        found = {m: find_row(report, kind, scenario, m) for m in SINGLE_TARGETS}
        singles = {m: _num(r["p99_ms"]) for m, r in found.items() if r is not None}
        if adaptive is None or "edge" not in singles or "cloud" not in singles:
            continue
        best = min(singles, key=lambda m: (math.isnan(singles[m]), singles[m]))
        names = "/".join(MODE_TITLES[m] for m in singles)
        out.append(
            check_max(
                f"{kind}, {scenario}: adaptive p99",
                _num(adaptive["p99_ms"]),
                singles[best] * (1 + P99_SLACK),
                "ms",
                f"best of {names} p99 ({MODE_TITLES[best]}) + 10 %",
            )
        )
    return out


def _cascade_gain(report: Report, kind: str) -> list[Check]:
    edge = find_row(report, kind, "idle", "edge")
    cascade = find_row(report, kind, "idle", "cascade")
    if edge is None or cascade is None:
        return []
    gain = _num(cascade["accuracy"]) - _num(edge["accuracy"])
    return [
        Check(
            f"{kind}, idle: cascade accuracy - edge-only",
            gain,
            "> 0 points (cascade beats edge-only)",
            None if math.isnan(gain) else gain > 0,
            "points",
        )
    ]


def _cloud_down(report: Report) -> list[Check]:
    out = []
    for mode in ("adaptive", "cascade"):
        found = [find_row(report, k, "down", mode) for k in KINDS]
        down = [r for r in found if r is not None]
        if not down:
            continue
        failed = sum(r["errors"] + r["lost"] for r in down)
        out.append(
            check_min(f"cloud down: {mode} answered", sum(r["n"] for r in down), 1, "answers")
        )
        out.append(check_max(f"cloud down: {mode} errors + lost", failed, 0, "", "falls back"))
    return out


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)
