"""`edgefleet bench edge`, start to end: measure, check the targets, report."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgefleet.bench.client import Client
from edgefleet.bench.edge import report as edge_report
from edgefleet.bench.edge.checks import edge_checks
from edgefleet.bench.edge.compute import (
    InProcess,
    bench_pipeline,
    in_process_rate,
    measure_in_process,
    measure_invoke,
)
from edgefleet.bench.edge.config import TARGET_BROKER, EdgeBenchConfig
from edgefleet.bench.edge.inputs import BenchInput, bench_input
from edgefleet.bench.edge.mqtt import (
    Footprint,
    measure_footprint,
    measure_mqtt,
    measure_under_load,
    start_agent,
)
from edgefleet.bench.report import Report, Table, print_report, wide_console, write_report
from edgefleet.procs.broker import running_broker


def run_edge_bench(cfg: EdgeBenchConfig, out: Path, console: Any = None) -> Report:
    """Every level for every model, then MQTT per broker; prints and writes the report."""
    console = wide_console(console)
    report = Report(
        "edge",
        "edgefleet bench edge - MQTT request -> local inference -> result",
        config=asdict(cfg),
    )
    main, footprint, cpu_table = edge_report.tables(cfg)
    report.tables = [main, footprint, cpu_table]
    inputs = {m: bench_input(m) for m in cfg.models}
    report.extra["inputs"] = {m: i.description for m, i in inputs.items()}
    base = _in_process(cfg, inputs, main, console)
    fps: dict[str, Footprint] = {}
    if cfg.mqtt:
        with tempfile.TemporaryDirectory(prefix="edgefleet-bench-") as tmp:
            for broker in cfg.brokers:
                workdir = Path(tmp) / broker
                workdir.mkdir()
                try:
                    _bench_broker(
                        broker, workdir, cfg, inputs, base, (main, cpu_table), fps, console
                    )
                except Exception as exc:  # report what failed, keep the other broker's numbers
                    report.notes.append(f"{broker}: MQTT measurement failed: {exc}")
                    console.print(f"[red]{broker}: {exc}[/red]")
    footprint.rows += [edge_report.footprint_row(b, fp) for b, fp in fps.items()]
    edge_report.sort_rows(main.rows, cfg.models)
    report.checks = edge_checks(main.rows, fps, base)
    report.notes += edge_report.notes(cfg, main, report.extra["inputs"])
    if cfg.plots:
        report.plots = edge_report.plots(report, cfg, out)
    path = write_report(report, out)
    print_report(report, console)
    console.print(f"wrote {path}" + "".join(f", {p}" for p in report.plots))
    return report


def _in_process(
    cfg: EdgeBenchConfig, inputs: dict[str, BenchInput], main: Table, console: Any
) -> dict[str, InProcess]:
    """invoke() and in-process rows per model; returns the in-process numbers (the base)."""
    base: dict[str, InProcess] = {}
    for model in cfg.models:
        console.print(f"[bold]{model}[/bold]: invoke() and in-process compute ...")
        payload = inputs[model].payload
        inv = measure_invoke(model, payload, cfg)
        main.rows.append(
            edge_report.row(
                model, "invoke", "-", inv.latency, None, None, invokes_per_request=inv.per_request
            )
        )
        ip = base[model] = measure_in_process(model, payload, cfg)
        main.rows.append(
            edge_report.row(
                model,
                "in-process",
                "-",
                ip.latency,
                ip.rate,
                ip.rate_n,
                stages_p50_ms=ip.stages_p50,
            )
        )
    return base


def _bench_broker(
    broker: str,
    workdir: Path,
    cfg: EdgeBenchConfig,
    inputs: dict[str, BenchInput],
    base: dict[str, InProcess],
    rows: tuple[Table, Table],
    fps: dict[str, Footprint],
    console: Any,
) -> None:
    """Footprint (cold starts), then every model through one agent, on one broker; `rows`:
    the latency and CPU tables the MQTT levels add to."""
    main, cpu_table = rows
    with running_broker(broker, workdir) as server:
        port = server.port
        client = Client(port, f"bench-{broker}")
        try:
            if cfg.cold_starts:
                console.print(
                    f"[bold]{broker}[/bold]: agent cold start and RSS ({cfg.cold_starts}x) ..."
                )
                fps[broker] = measure_footprint(client, workdir, port, broker, cfg, inputs)
            if cfg.load_requests and broker == TARGET_BROKER:
                console.print(
                    f"[bold]{broker}[/bold]: agent RSS under load ({cfg.load_requests} requests,"
                    f" {cfg.load_stress} busy loops) ..."
                )
                fp = fps.setdefault(broker, Footprint())
                fp.load = measure_under_load(client, workdir, port, broker, cfg, inputs)
            for workers in cfg.workers:
                level = edge_report.mqtt_level(workers)
                device = f"bench-{broker}-w{workers}"
                agent = start_agent(workdir, port, device, cfg.models, workers)
                try:
                    agent.wait_online(client)
                    for model in cfg.models:
                        console.print(f"[bold]{broker}[/bold]: {model} over MQTT ({level}) ...")
                        payload = inputs[model].payload
                        paired, _ = in_process_rate(bench_pipeline(model), payload, cfg)
                        pids = (agent.proc.pid, server.pid)
                        run = measure_mqtt(client, agent.device, model, payload, cfg, pids)
                        main.rows.append(
                            edge_report.row(
                                model,
                                level,
                                broker,
                                run.latency,
                                run.rate,
                                run.rate_n,
                                base[model],
                                lost=run.lost,
                                agent_latency_p50_ms=run.agent_latency_p50,
                                workers=workers,
                                cpu_ms_per_request=run.cpu_ms,
                                inproc_rate_paired=paired,
                                rate_ratio_paired=run.rate / paired,
                            )
                        )
                        if run.cpu_ms is not None:
                            cpu_table.rows.append(
                                edge_report.cpu_row(model, level, broker, run.cpu_ms, run.rate)
                            )
                finally:
                    agent.stop()
        finally:
            client.close()
