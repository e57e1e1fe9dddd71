"""How `edgefleet bench hub` shows its numbers: the ingest and fleet API tables, two plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import Column, Report, Table


def tables(fleet_devices: int) -> tuple[Table, Table]:
    ingest = Table(
        "ingest",
        "Health ingest (messages/s committed to SQL)",
        [
            Column("database", "database", justify="left"),
            Column("broker", "broker", justify="left"),
            Column("messages", "messages", "{:d}"),
            Column("rows", "rows", "{:d}"),
            Column("rate", "msg/s", "{:.0f}"),
        ],
    )
    fleet = Table(
        "fleet",
        f"Fleet API latency, {fleet_devices} devices (ms)",
        [
            Column("database", "database", justify="left"),
            Column("call", "call", justify="left"),
            Column("p50", "p50"),
            Column("p99", "p99"),
            Column("max", "max"),
        ],
    )
    return ingest, fleet


def _by(
    rows: list[dict[str, Any]], key: str, value: str, groups: list[str], cats: list[str], cat: str
) -> dict[str, list[float | None]]:
    """{group (database): [row[value] per category]} for a grouped bar chart."""
    return {
        g: [next((r[value] for r in rows if r[key] == g and r[cat] == c), None) for c in cats]
        for g in groups
    }


def draw_plots(report: Report, out: Path) -> None:
    """Ingest rate per database and broker; fleet API p50 (whisker: p99) per call."""
    ingest = report.table("ingest").rows
    brokers = list(dict.fromkeys(r["broker"] for r in ingest))
    dbs = list(dict.fromkeys(r["database"] for r in ingest))
    report.plots.append(
        bar_chart(
            out / "hub-ingest.png",
            brokers,
            _by(ingest, "database", "rate", dbs, brokers, "broker"),
            title="Health ingest into SQL",
            ylabel="messages/s",
        )
    )
    fleet = report.table("fleet").rows
    calls = list(dict.fromkeys(r["call"] for r in fleet))
    report.plots.append(
        bar_chart(
            out / "hub-fleet-api.png",
            calls,
            _by(fleet, "database", "p50", dbs, calls, "call"),
            errors=_by(fleet, "database", "p99", dbs, calls, "call"),
            title="Fleet API latency, p50 (whisker p99)",
            ylabel="ms",
        )
    )
