"""How `edgefleet bench edge` shows its numbers: table rows and columns, notes, PNG plots."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgefleet.bench.edge.compute import InProcess
from edgefleet.bench.edge.config import LIGHT_MODELS, EdgeBenchConfig
from edgefleet.bench.edge.mqtt import Footprint
from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import Column, Report, Table
from edgefleet.bench.stats import Summary

COLUMNS = [
    Column("model", "model", justify="left"),
    Column("level", "level", justify="left"),
    Column("broker", "broker", justify="left"),
    Column("n", "n", "{:d}"),
    Column("p50_ms", "p50 ms", "{:.3g}"),
    Column("p99_ms", "p99 ms", "{:.3g}"),
    Column("rate", "req/s", "{:.1f}"),
    Column("p50_over_inproc_ms", "p50 - in-proc ms", "{:+.2f}"),
    Column("p50_ratio", "p50 / in-proc", "{:.2f}x"),
    Column("rate_ratio", "rate / in-proc", "{:.0%}"),
    Column("rate_ratio_start", "rate / in-proc at start", "{:.0%}"),
    Column("scaling", "rate / 1 worker", "{:.2f}x"),
]
FOOTPRINT_COLUMNS = [
    Column("broker", "broker", justify="left"),
    Column("models", "agent models", justify="left"),
    Column("runs", "runs", "{:d}"),
    Column("online_ms", "spawn -> online ms (median)", "{:.0f}"),
    Column("cold_start_ms", "cold start ms (median)", "{:.0f}"),
    Column("cold_start_max_ms", "cold start ms (max)", "{:.0f}"),
    Column("rss_mb", "RSS MB (max)", "{:.1f}"),
    Column("anon_mb", "anon MB (max)", "{:.1f}"),
    Column("load_idle_mb", "RSS MB idle", "{:.1f}"),
    Column("load_after_mb", "after load", "{:.1f}"),
    Column("load_settled_mb", "+10 s", "{:.1f}"),
]
CPU_COLUMNS = [
    Column("model", "model", justify="left"),
    Column("level", "level", justify="left"),
    Column("broker", "broker", justify="left"),
    Column("agent_loop", "agent loop", "{:.2f}"),
    Column("agent_workers", "agent workers", "{:.2f}"),
    Column("broker_ms", "broker", "{:.2f}"),
    Column("client", "bench client", "{:.2f}"),
    Column("total", "total", "{:.2f}"),
    Column("cores_busy", "cores busy", "{:.2f}"),
]
LEVELS = {"invoke": 0, "in-process": 1, "mqtt": 2}


def mqtt_level(workers: int) -> str:
    """The level of an MQTT row: `mqtt` with one worker per model, `mqtt xN` with N."""
    return "mqtt" if workers == 1 else f"mqtt x{workers}"


def tables(cfg: EdgeBenchConfig) -> tuple[Table, Table, Table]:
    """The empty tables: latency/throughput per model and level, agent footprint, and the CPU
    split of the pipelined MQTT bursts."""
    main = Table(
        "latency", f"Latency (sequential) and throughput (pipelined, window {cfg.window})", COLUMNS
    )
    footprint = Table(
        "footprint",
        f"Agent footprint (light models: {' + '.join(LIGHT_MODELS)})",
        FOOTPRINT_COLUMNS,
    )
    cpu = Table(
        "cpu",
        "CPU per answered request in the pipelined MQTT burst, ms (the machine's cores are shared)",
        CPU_COLUMNS,
    )
    return main, footprint, cpu


def row(
    model: str,
    level: str,
    broker: str,
    s: Summary,
    rate: float | None,
    n_rate: int | None,
    base: InProcess | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One latency row; with `base` (the in-process numbers) also the MQTT overheads."""
    out: dict[str, Any] = {
        "model": model,
        "level": level,
        "broker": broker,
        "n": s.n,
        "p50_ms": s.p50,
        "p99_ms": s.p99,
        "mean_ms": s.mean,
        "min_ms": s.min,
        "max_ms": s.max,
        "rate": rate,
        "rate_n": n_rate,
    }
    if base is not None:
        out["p50_over_inproc_ms"] = s.p50 - base.latency.p50
        out["p50_ratio"] = s.p50 / base.latency.p50
        out["p99_ratio"] = s.p99 / base.latency.p99
        if rate is not None and base.rate:  # against the in-process row, measured earlier
            out["rate_ratio_start"] = rate / base.rate
    out.update(extra)
    return out


def cpu_row(
    model: str, level: str, broker: str, cpu_ms: dict[str, float], rate: float
) -> dict[str, Any]:
    """One row of the CPU table; `cores_busy` = CPU seconds per second of the burst."""
    return {
        "model": model,
        "level": level,
        "broker": broker,
        "agent_loop": cpu_ms["agent loop"],
        "agent_workers": cpu_ms["agent workers"],
        "broker_ms": cpu_ms["broker"],
        "client": cpu_ms["client"],
        "total": cpu_ms["total"],
        "cores_busy": cpu_ms["total"] * rate / 1000,
    }


def footprint_row(broker: str, fp: Footprint) -> dict[str, Any]:
    return {
        "broker": broker,
        "models": "+".join(LIGHT_MODELS),
        "runs": len(fp.cold_start_ms),
        "online_ms": statistics.median(fp.online_ms) if fp.online_ms else None,
        "cold_start_ms": statistics.median(fp.cold_start_ms) if fp.cold_start_ms else None,
        "cold_start_max_ms": max(fp.cold_start_ms, default=None),
        "rss_mb": max(fp.rss_mb, default=None),
        "cold_start_all_ms": fp.cold_start_ms,
        "rss_all_mb": fp.rss_mb,
        "anon_mb": max(fp.anon_mb, default=None),
        "anon_all_mb": fp.anon_mb,
        "agent_exit_codes": fp.exit_codes,
        **(
            {}
            if fp.load is None
            else {
                "load_idle_mb": fp.load.idle_mb,
                "load_after_mb": fp.load.after_mb,
                "load_settled_mb": fp.load.settled_mb,
                "load_answered": fp.load.answered,
                "load_lost": fp.load.lost,
                "load_stress": fp.load.stress,
            }
        ),
    }


def sort_rows(rows: list[dict[str, Any]], models: Sequence[str]) -> None:
    """Per model (in the configured order): invoke, in-process, then MQTT per broker and
    number of workers (`mqtt`, `mqtt x2`...)."""
    order = {m: i for i, m in enumerate(models)}
    mqtt = LEVELS["mqtt"]
    rows.sort(
        key=lambda r: (
            order[r["model"]],
            r["broker"],
            LEVELS.get(r["level"], mqtt),
            r.get("workers", 0),
        )
    )


def find_row(rows: list[dict[str, Any]], model: str, level: str, broker: str) -> dict[str, Any]:
    """The row of (model, level, broker), or {} when it was not measured."""
    return next(
        (r for r in rows if (r["model"], r["level"], r["broker"]) == (model, level, broker)), {}
    )


def notes(cfg: EdgeBenchConfig, main: Table, inputs: dict[str, str]) -> list[str]:
    """How to read the table; `inputs` are the input descriptions per model."""
    out = [
        "p50/p99: sequential requests, one at a time; req/s: pipelined with "
        f"{cfg.window} in flight (MQTT) or back-to-back run() on one thread (in-process).",
        f"MQTT req/s: median of {cfg.rounds} interleaved rounds, each an in-process burst and "
        "one pipelined burst per agent; rate / in-proc and rate / 1 worker: medians of the "
        "per-round ratios (checked); rate / in-proc at start: over the in-process row's rate, "
        "measured minutes earlier (reported).",
    ]
    if "wakeword-lite" in cfg.models:
        per = find_row(main.rows, "wakeword-lite", "invoke", "-").get("invokes_per_request")
        out.append(
            "wakeword-lite invoke = one 30 ms feature step of one word model; "
            f"the {inputs['wakeword-lite'].split(',')[0]} clip "
            f"takes {per or 0:.0f} invokes (all word models)."
        )
    return out


def plots(report: Report, cfg: EdgeBenchConfig, out: Path) -> list[Path]:
    """edge-latency.png, edge-throughput.png, edge-cpu.png (with MQTT levels) and (with cold
    starts) edge-footprint.png."""
    rows = report.table("latency").rows
    models = list(cfg.models)
    series: dict[str, list[float | None]] = {}
    whiskers: dict[str, list[float | None]] = {}
    rates: dict[str, list[float | None]] = {}
    mqtt = [(mqtt_level(w), b) for b in cfg.brokers for w in cfg.workers]
    for level, broker in [("invoke", "-"), ("in-process", "-"), *mqtt]:
        label = level if broker == "-" else f"{level} {broker}"
        found = [find_row(rows, m, level, broker) for m in models]
        if not any(found):
            continue
        series[label] = [r.get("p50_ms") for r in found]
        whiskers[label] = [r.get("p99_ms") for r in found]
        if level != "invoke":
            rates[label] = [r.get("rate") for r in found]
    paths = [
        bar_chart(
            out / "edge-latency.png",
            models,
            series,
            errors=whiskers,
            log=True,
            title="Latency per level (bar p50, whisker p99)",
            ylabel="ms (log)",
        ),
        bar_chart(
            out / "edge-throughput.png",
            models,
            rates,
            title=f"Sustained throughput (MQTT window {cfg.window})",
            ylabel="requests/s",
        ),
    ]
    cpu_rows = report.table("cpu").rows
    if cpu_rows:
        columns = {c.key: c.title for c in CPU_COLUMNS[3:7]}  # the four roles
        groups = [f"{r['model']} {r['level']} {r['broker']}" for r in cpu_rows]
        paths.append(
            bar_chart(
                out / "edge-cpu.png",
                groups,
                {header: [r.get(key) for r in cpu_rows] for key, header in columns.items()},
                title="CPU per request in the pipelined burst, by role",
                ylabel="ms of CPU per request",
            )
        )
    fp_rows = report.table("footprint").rows
    if fp_rows:
        paths.append(
            bar_chart(
                out / "edge-footprint.png",
                [r["broker"] for r in fp_rows],
                {
                    "cold start ms": [r.get("cold_start_ms") for r in fp_rows],
                    "RSS MB": [r.get("rss_mb") for r in fp_rows],
                },
                title="Agent cold start (median) and RSS, light models",
                ylabel="ms / MB",
            )
        )
    return paths
