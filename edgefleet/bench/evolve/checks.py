"""The co-evolution targets (docs/benchmarks.md): the device model closes >= 40 % of the
edge->cloud gap, the cascade's share sent at equal accuracy falls by >= 30 %, the device's
latency grows <= 20 %."""

from __future__ import annotations

from typing import Any

from edgefleet.bench.report import Check, check_max, check_min


def gap_closed(rows: list[dict[str, Any]], cloud_only: float) -> tuple[float, float]:
    """(edge->cloud gap at round 0 in points, % of it the last round closed)."""
    start, end = rows[0]["edge"], rows[-1]["edge"]
    gap = cloud_only - start
    return gap, 100 * (end - start) / gap if gap > 0 else float("nan")


def evolve_checks(
    rows: list[dict[str, Any]], cloud_only: float, growth: float, task: str = "engine"
) -> list[Check]:
    """`growth`: the device's p50 per input, last model against the shipped one, in %."""
    _, closed = gap_closed(rows, cloud_only)
    start, end = rows[0]["equal_share"], rows[-1]["equal_share"]
    fell = 100 * (1 - end / start) if start else 0.0
    return [
        check_min(f"{task}: edge->cloud gap closed", closed, 40, "%"),
        check_min(f"{task}: cloud share at equal accuracy fell", fell, 30, "%"),
        check_max(f"{task}: device latency growth", growth, 20, "%", "p50 per input"),
    ]
