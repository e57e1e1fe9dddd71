"""How `edgefleet bench offload` shows its numbers: one table per data set, notes, plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from edgefleet.bench.offload.config import (
    CLOUD_MODELS,
    CORE_WATTS,
    EDGE_MODELS,
    ENGINE,
    GATEWAY,
    GATEWAY_MODELS,
    KINDS,
    MODE_TITLES,
    SCENARIO_TITLES,
    VISION,
    WHERE,
    OffloadBenchConfig,
    cloud_model,
    device_model,
)
from edgefleet.bench.offload.scoring import Tally
from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import Column, Report, Table
from edgefleet.bench.stats import Summary


@cache
def model_mb(model: str) -> float:
    """Bytes on disk: an ensemble's members' files, a built model's built file."""
    from models.catalogue import load_catalogue
    from models.fetch import model_path

    catalogue = load_catalogue()
    spec = catalogue.get(model)
    if spec.source == "built":
        return sum(f.stat().st_size for f in model_path(spec).glob("*") if f.is_file()) / 1e6
    return sum(part.size_bytes for part in catalogue.with_members(spec)) / 1e6


def row(scenario: str, mode: str, kind: str, tally: Tally) -> dict[str, Any]:
    s = Summary.of(tally.latencies)
    split = tally.split()
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
        "cloud_share": split["cloud"],
        "gateway_share": split["gateway"],
        "edge_share": split["edge"],
        "split": split_text(split),
        "bytes_sent": tally.bytes_sent,
        "device_model": device_model(scenario, kind),
        "device_mb": model_mb(device_model(scenario, kind)),
        "cloud_mb": 0.0 if mode == "edge" else model_mb(cloud_model(scenario, kind)),
        "errors": tally.errors,
        "lost": tally.lost,
        "tally": {k: v for k, v in asdict(tally).items() if k != "latencies"},
    }
    cpu_ms = 1000.0 * tally.device_cpu_s / tally.answered if tally.answered else math.nan
    out["device_cpu_ms"] = cpu_ms  # the agent's CPU time per answered request
    for board, watts in CORE_WATTS.items():
        out[f"device_mj_{board}"] = cpu_ms * watts  # ms x W = mJ
    if kind == VISION:
        out |= {"hit_rate": tally.accuracy(kind), "false_faces": tally.false_faces}
    elif kind == ENGINE:
        out |= {"wrong": tally.readings - tally.right}
    else:
        det = 100.0 * tally.detected / tally.positives if tally.positives else math.nan
        near = tally.near_misses
        near_rate = 100.0 * tally.near_miss_alarms / near if near else math.nan
        out |= {"detection_rate": det, "false_alarms": tally.false_alarms, "near_miss": near_rate}
    return out


def split_text(split: dict[str, float]) -> str:
    """`edge / gateway / cloud` shares of the answers, in whole %: "0/97/3"."""
    if any(math.isnan(v) for v in split.values()):
        return "-"
    return "/".join(f"{split[w]:.0f}" for w in WHERE)


def columns(kind: str, gateway: bool = False) -> list[Column]:
    """The data set's table; `gateway` (the gateway scenario measured): where each mode's
    answers were computed, edge/gateway/cloud %, instead of the share sent to the cloud."""
    common = [
        Column("scenario_title", "scenario", "{}", "left"),
        Column("mode_title", "mode", "{}", "left"),
        Column("n", "n", "{}"),
        Column("p50_ms", "p50 ms"),
        Column("p99_ms", "p99 ms"),
    ]
    if kind == VISION:
        acc = [Column("hit_rate", "IoU>=0.5 hit %", "{:.1f}"), Column("false_faces", "false", "{}")]
    elif kind == ENGINE:
        acc = [Column("accuracy", "right class %", "{:.1f}"), Column("wrong", "wrong", "{}")]
    else:
        acc = [
            Column("detection_rate", "wake det %", "{:.1f}"),
            Column("false_alarms", "false alarms", "{}"),
            Column("near_miss", "near-miss alarms %", "{:.1f}"),
            Column("accuracy", "correct %", "{:.1f}"),
        ]
    return [
        *common,
        *acc,
        Column("split", "edge/gw/cloud %", "{}")
        if gateway
        else Column("cloud_share", "to cloud %", "{:.0f}"),
        Column("bytes_sent", "bytes sent", "{:,}"),
        Column("device_mb", "device MB", "{:.3f}"),
        Column("device_cpu_ms", "device CPU ms", "{:.2f}"),
        Column("errors", "errors", "{}"),
    ]


def tables(
    tallies: dict[tuple[str, str, str], Tally], scenarios: Sequence[str], modes: Sequence[str]
) -> list[Table]:
    """Vision, voice, engine (those measured): rows per scenario, then mode; then the summary
    in the design article's shape."""
    out = []
    for kind in KINDS:
        title = kind.capitalize()
        rows = [
            row(s, m, kind, tallies[(s, m, kind)])
            for s in scenarios
            for m in modes
            if (s, m, kind) in tallies
        ]
        if not rows:
            continue
        cloud = CLOUD_MODELS[kind]
        where = f"{EDGE_MODELS[kind]} on the device, {cloud} ({model_mb(cloud):.2f} MB) on the hub"
        if GATEWAY in scenarios:
            full = GATEWAY_MODELS[kind]
            site = f"{full} ({model_mb(full):.2f} MB) on the device, the gateway and the hub"
            where = f"{where}; {GATEWAY}: {site}" if len(scenarios) > 1 else site
        out.append(
            Table(
                kind,
                f"{title}: {where}",
                columns(kind, GATEWAY in scenarios),
                rows,
            )
        )
    summary = article_rows(out)
    if summary:
        out.append(
            Table(
                SUMMARY,
                "The article's table (idle): edge-only, cloud-only, collaborative (cascade)",
                [
                    Column("data", "data", "{}", "left"),
                    Column("mode_title", "mode", "{}", "left"),
                    Column("p50_ms", "p50 ms"),
                    Column("device_mb", "device model MB", "{:.3f}"),
                    Column("accuracy", "accuracy %", "{:.1f}"),
                    Column("cloud_share", "to cloud %", "{:.0f}"),
                    Column("device_mj_pi4", "device mJ/req (Pi 4)", "{:.2f}"),
                    Column("device_mj_pi5", "device mJ/req (Pi 5)", "{:.2f}"),
                ],
                summary,
            )
        )
    return out


SUMMARY = "summary"
ARTICLE_MODES = {"edge": "edge-only", "cloud": "cloud-only", "cascade": "collaborative"}


def article_rows(tables_: Sequence[Table]) -> list[dict[str, Any]]:
    """Idle rows of edge-only, cloud-only and cascade per data set, retitled as the article's."""
    rows = []
    for table in tables_:
        for mode, title in ARTICLE_MODES.items():
            found = [r for r in table.rows if r["scenario"] == "idle" and r["mode"] == mode]
            rows += [{**r, "mode_title": title} for r in found]
    return rows


def find_row(report: Report, kind: str, scenario: str, mode: str) -> dict[str, Any] | None:
    found = [t for t in report.tables if t.key == kind]
    if not found:
        return None
    return next((r for r in found[0].rows if r["scenario"] == scenario and r["mode"] == mode), None)


def notes(
    cfg: OffloadBenchConfig,
    device_cpus: set[int],
    busy: dict[str, float],
    scenarios: Sequence[str] = (),
) -> list[str]:
    """How to read the tables; `busy`: the device CPU load (%) before each scenario."""
    return [*_notes(cfg, device_cpus, busy), *(gateway_notes(cfg) if GATEWAY in scenarios else [])]


def gateway_notes(cfg: OffloadBenchConfig) -> list[str]:
    return [
        "gateway: a fleet of its own, one site on Mosquitto (MQTT 5): a gateway agent serving "
        f"the full models ({', '.join(GATEWAY_MODELS.values())}) on the hub's CPU, devices "
        "with the same models on the device CPU saturated as in `cpu`, the hub "
        f"+{cfg.gateway_delay_ms:.0f} ms round trip away; edge/gw/cloud %: where the answers "
        "were computed (their `where`)",
        "gateway-only: an adaptive device whose link to the hub is cut once it knows the "
        "gateway, so the gateway is its only remote; it still runs what it judges faster "
        "locally (its split shows how much) and, like every mode, is asked through the device",
    ]


def _notes(cfg: OffloadBenchConfig, device_cpus: set[int], busy: dict[str, float]) -> list[str]:
    return [
        "latency: request published -> result received over MQTT, sequential, the modes asked "
        "in turn per sample; bytes sent: everything the agent sent to the hub during the "
        "measured requests (HTTP requests and bodies, health probes included)",
        "device MB: the light model on the device (every mode keeps it: cloud-only falls back "
        "to it); the JSON has cloud_mb, the full model on the hub",
        "device CPU ms: the agent process's CPU time per answered request (its background work "
        "included); device mJ/req: that x the power one busy core adds on a Raspberry Pi "
        f"({', '.join(f'{k} {w} W' for k, w in CORE_WATTS.items())}, docs/benchmarks.md) - "
        "measured on this host's faster cores, so a lower bound for a Pi",
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
        if kind not in KINDS:
            continue  # the summary repeats rows of the data sets' tables

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
        if any(r["scenario"] == GATEWAY for r in table.rows):
            paths.append(split_plot(table, modes, out / f"offload-{kind}-gateway-split.png"))
    return paths


def split_plot(table: Table, modes: Sequence[str], path: Path) -> Path:
    """The gateway scenario: per mode, where its answers were computed (%)."""
    rows = {r["mode"]: r for r in table.rows if r["scenario"] == GATEWAY}
    shown = [m for m in modes if m in rows]
    return bar_chart(
        path,
        [MODE_TITLES[m] for m in shown],
        {w: [rows[m][f"{w}_share"] for m in shown] for w in WHERE},
        title=f"{table.key}, site gateway: where the answers were computed",
        ylabel="% of answers",
    )
