"""How `edgefleet bench offload` shows its numbers: one table per data set, notes, plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgefleet.bench.offload.config import (
    CLOUD_MODELS,
    EDGE_MODELS,
    MODE_TITLES,
    SCENARIO_TITLES,
    VISION,
    VOICE,
    OffloadBenchConfig,
)
from edgefleet.bench.offload.scoring import Tally
from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import Column, Report, Table
from edgefleet.bench.stats import Summary


def model_mb(model: str) -> float:
    from models.catalogue import load_catalogue

    return load_catalogue().get(model).size_bytes / 1e6


def row(scenario: str, mode: str, kind: str, tally: Tally) -> dict[str, Any]:
    s = Summary.of(tally.latencies)
    out: dict[str, Any] = {
        "scenario": scenario,
        "scenario_title": SCENARIO_TITLES[scenario],
        "mode": mode,
        "mode_title": MODE_TITLES[mode],
        "data": kind,
        "n": tally.answered,
        "p50_ms": s.p50,
        "p99_ms": s.p99,
        "latency": s,
        "accuracy": tally.accuracy(kind),
        "cloud_share": 100.0 * tally.cloud_answers / tally.answered if tally.answered else math.nan,
        "bytes_sent": tally.bytes_sent,
        "device_mb": model_mb(EDGE_MODELS[kind]),
        "cloud_mb": 0.0 if mode == "edge" else model_mb(CLOUD_MODELS[kind]),
        "errors": tally.errors,
        "lost": tally.lost,
        "tally": {k: v for k, v in asdict(tally).items() if k != "latencies"},
    }
    if kind == VISION:
        out |= {"hit_rate": tally.accuracy(kind), "false_faces": tally.false_faces}
    else:
        det = 100.0 * tally.detected / tally.positives if tally.positives else math.nan
        out |= {"detection_rate": det, "false_alarms": tally.false_alarms}
    return out


def columns(kind: str) -> list[Column]:
    common = [
        Column("scenario_title", "scenario", "{}", "left"),
        Column("mode_title", "mode", "{}", "left"),
        Column("n", "n", "{}"),
        Column("p50_ms", "p50 ms"),
        Column("p99_ms", "p99 ms"),
    ]
    if kind == VISION:
        acc = [Column("hit_rate", "IoU>=0.5 hit %", "{:.1f}"), Column("false_faces", "false", "{}")]
    else:
        acc = [
            Column("detection_rate", "wake det %", "{:.1f}"),
            Column("false_alarms", "false alarms", "{}"),
            Column("accuracy", "correct %", "{:.1f}"),
        ]
    return [
        *common,
        *acc,
        Column("cloud_share", "to cloud %", "{:.0f}"),
        Column("bytes_sent", "bytes sent", "{:,}"),
        Column("device_mb", "device MB", "{:.3f}"),
        Column("errors", "errors", "{}"),
    ]


def tables(
    tallies: dict[tuple[str, str, str], Tally], scenarios: Sequence[str], modes: Sequence[str]
) -> list[Table]:
    """Vision, then voice (when measured): rows per scenario, then mode."""
    out = []
    for kind, title in ((VISION, "Vision"), (VOICE, "Voice")):
        rows = [
            row(s, m, kind, tallies[(s, m, kind)])
            for s in scenarios
            for m in modes
            if (s, m, kind) in tallies
        ]
        if not rows:
            continue
        cloud = CLOUD_MODELS[kind]
        out.append(
            Table(
                kind,
                f"{title}: {EDGE_MODELS[kind]} on the device, {cloud} "
                f"({model_mb(cloud):.2f} MB) on the hub",
                columns(kind),
                rows,
            )
        )
    return out


def find_row(report: Report, kind: str, scenario: str, mode: str) -> dict[str, Any] | None:
    found = [t for t in report.tables if t.key == kind]
    if not found:
        return None
    return next((r for r in found[0].rows if r["scenario"] == scenario and r["mode"] == mode), None)


def notes(cfg: OffloadBenchConfig, device_cpus: set[int], busy: dict[str, float]) -> list[str]:
    """How to read the tables; `busy`: the device CPU load (%) before each scenario."""
    return [
        "latency: request published -> result received over MQTT, sequential, the modes asked "
        "in turn per sample; bytes sent: everything the agent sent to the hub during the "
        "measured requests (HTTP requests and bodies, health probes included)",
        "device MB: the light model on the device (every mode keeps it: cloud-only falls back "
        "to it); the JSON has cloud_mb, the full model on the hub",
        "device CPU busy before each scenario's requests (%): "
        + ", ".join(f"{k} {v:.0f}" for k, v in busy.items())
        + " - at >= 70 % adaptive sheds load to the cloud when it is no slower (docs/offload.md)",
        f"cpu: {cfg.stress_processes} busy loops pinned to the agents' CPU "
        f"{sorted(device_cpus)} at nice {cfg.stress_nice}; delay: +{cfg.delay_ms:.0f} ms round "
        "trip through a loopback proxy; down: the hub process killed",
    ]


def plots(report: Report, scenarios: Sequence[str], modes: Sequence[str], out: Path) -> list[Path]:
    """Per data set: offload-<kind>-latency.png, -accuracy.png and -bytes.png."""
    paths: list[Path] = []
    cats = [SCENARIO_TITLES[s] for s in scenarios]
    for table in report.tables:
        kind = table.key

        def series(key: str, table: Table = table) -> dict[str, list[float | None]]:
            return {
                MODE_TITLES[m]: [
                    next(
                        (r[key] for r in table.rows if r["scenario"] == s and r["mode"] == m),
                        None,
                    )
                    for s in scenarios
                ]
                for m in modes
            }

        paths.append(
            bar_chart(
                out / f"offload-{kind}-latency.png",
                cats,
                series("p50_ms"),
                errors=series("p99_ms"),
                title=f"{kind}: p50 latency (whisker: p99)",
                ylabel="ms",
                log=True,
            )
        )
        paths.append(
            bar_chart(
                out / f"offload-{kind}-accuracy.png",
                cats,
                series("accuracy"),
                title=f"{kind}: accuracy (%)",
                ylabel="%",
            )
        )
        paths.append(
            bar_chart(
                out / f"offload-{kind}-bytes.png",
                cats,
                series("bytes_sent"),
                title=f"{kind}: bytes sent to the cloud",
                ylabel="bytes",
            )
        )
    return paths
