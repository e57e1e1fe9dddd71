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
    measure_in_process,
    measure_invoke,
)
from edgefleet.bench.edge.config import TARGET_BROKER, EdgeBenchConfig
from edgefleet.bench.edge.inputs import BenchInput, bench_input
from edgefleet.bench.edge.mqtt import (
    AgentHandle,
    Footprint,
    measure_footprint,
    measure_latency,
    measure_under_load,
    start_agent,
)
from edgefleet.bench.edge.rates import interleaved
from edgefleet.bench.report import Report, Table, publish, wide_console
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
    publish(report, out, console)
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
    """Footprint (cold starts), then every model through one agent per `workers` value, on
    one broker; `rows`: the latency and CPU tables the MQTT levels add to."""
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
            agents: dict[int, AgentHandle] = {}
            try:
                for w in cfg.workers:  # all alive at once: their bursts interleave
                    agents[w] = start_agent(workdir, port, f"bench-{broker}-w{w}", cfg.models, w)
                for agent in agents.values():
                    agent.wait_online(client)
                for model in cfg.models:
                    _bench_model(
                        client,
                        agents,
                        model,
                        inputs[model].payload,
                        cfg,
                        server.pid,
                        (broker, base[model]),
                        rows,
                        console,
                    )
            finally:
                for agent in agents.values():
                    agent.stop()
        finally:
            client.close()


def _bench_model(
    client: Client,
    agents: dict[int, AgentHandle],
    model: str,
    payload: bytes,
    cfg: EdgeBenchConfig,
    broker_pid: int,
    where: tuple[str, InProcess],
    rows: tuple[Table, Table],
    console: Any,
) -> None:
    """One model over one broker: sequential latency per agent, then the pipelined rates in
    interleaved rounds (bench/edge/rates.py); a latency row and a CPU row per agent."""
    broker, base = where
    main, cpu_table = rows
    latency = {}
    for workers, agent in agents.items():
        level = edge_report.mqtt_level(workers)
        console.print(f"[bold]{broker}[/bold]: {model} over MQTT ({level}), sequential ...")
        latency[workers] = measure_latency(client, agent.device, model, payload, cfg)
    console.print(f"[bold]{broker}[/bold]: {model} pipelined, {cfg.rounds} interleaved rounds ...")
    rounds = interleaved(client, agents, model, payload, cfg, broker_pid, bench_pipeline(model))
    for workers in agents:
        level = edge_report.mqtt_level(workers)
        measured = rounds.fields(workers)
        rate = measured.pop("rate")
        main.rows.append(
            edge_report.row(
                model,
                level,
                broker,
                latency[workers].latency,
                rate,
                measured.pop("rate_n"),
                base,
                agent_latency_p50_ms=latency[workers].agent_latency_p50,
                workers=workers,
                **measured,
            )
        )
        cpu_ms = rounds.cpu_ms(workers)
        if cpu_ms is not None:
            cpu_table.rows.append(edge_report.cpu_row(model, level, broker, cpu_ms, rate))
