"""The hub targets (docs/benchmarks.md): >= 5,000 heartbeats/s into SQLite through a broker, and
every fleet API listing under 100 ms at p99 (the summary is an aggregate: not a target)."""

from __future__ import annotations

from typing import Any

from edgefleet.bench.hub.ingest import WRITER_ONLY
from edgefleet.bench.report import Check, check_max, check_min


def hub_checks(ingest: list[dict[str, Any]], fleet: list[dict[str, Any]]) -> list[Check]:
    out = [
        check_min(f"ingest sqlite via {row['broker']}", row["rate"], 5000, "msg/s")
        for row in ingest
        if row["database"] == "sqlite" and row["broker"] != WRITER_ONLY
    ]
    out += [
        check_max(f"{row['database']} {row['call']} p99", row["p99"], 100, "ms")
        for row in fleet
        if row["call"] != "fleet summary"
    ]
    return out
