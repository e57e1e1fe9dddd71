"""`edgefleet bench offload`, start to end: measure, check the targets, report."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgefleet.bench.offload import report as offload_report
from edgefleet.bench.offload.checks import checks
from edgefleet.bench.offload.config import (
    ALL_MODES,
    ALL_SCENARIOS,
    GATEWAY,
    GATEWAY_MODES,
    OffloadBenchConfig,
)
from edgefleet.bench.offload.fleet import gateway_fleet, offload_fleet, split_cpus
from edgefleet.bench.offload.measure import Key, load_samples, measure_scenarios
from edgefleet.bench.offload.scoring import Tally
from edgefleet.bench.report import Report, publish
from edgefleet.procs.broker import broker_kind, broker_process


def run_offload_bench(cfg: OffloadBenchConfig, out: Path, console: Any = None) -> Report:
    """The modes through every scenario on every data set; prints and writes the report. The
    `gateway` scenario runs last, in a fleet of its own (a site with a gateway, MQTT 5)."""
    cfg.validate()
    scenarios = [s for s in ALL_SCENARIOS if s in cfg.scenarios]  # `down` kills the hub: last
    with_gateway = (GATEWAY,) if GATEWAY in scenarios else ()  # gateway-only: in its scenario
    modes = [m for m in ALL_MODES if m in (*cfg.modes, *with_gateway)]
    samples, notes = load_samples(cfg)
    kind = broker_kind(cfg.broker)
    if GATEWAY in scenarios and kind != "mosquitto":
        raise RuntimeError("-s gateway needs Mosquitto (MQTT 5); it is not installed")
    cpus = split_cpus()
    report = Report(
        "offload",
        "Collaborative inference: edge-only, cloud-only, adaptive, cascade (docs/benchmarks.md)",
        config={**asdict(cfg), "broker": kind, "device_cpus": sorted(cpus[0])},
    )
    report.notes += notes
    device_load: dict[str, float] = {}
    report.extra["device_cpu_busy_pct"] = device_load
    tallies: dict[Key, Tally] = {}
    plain = [s for s in scenarios if s != GATEWAY]
    plain_modes = [m for m in modes if m != GATEWAY]
    with tempfile.TemporaryDirectory(prefix="edgefleet-bench-offload-") as tmp:
        work = Path(tmp)
        if plain and plain_modes:
            with (
                broker_process(kind, work / "plain") as port,
                offload_fleet(work / "plain", port, cfg, plain_modes, cpus) as fleet,
            ):
                tallies |= measure_scenarios(cfg, fleet, plain, samples, device_load, console)
        site_modes = [m for m in modes if m in GATEWAY_MODES]
        if GATEWAY in scenarios and site_modes:
            with (
                broker_process(kind, work / GATEWAY) as port,
                gateway_fleet(work / GATEWAY, port, cfg, site_modes, cpus) as fleet,
            ):
                tallies |= measure_scenarios(cfg, fleet, [GATEWAY], samples, device_load, console)
    report.tables += offload_report.tables(tallies, scenarios, modes)
    report.checks = checks(report, scenarios)
    report.notes += offload_report.notes(cfg, cpus[0], device_load, scenarios)
    if cfg.plots:
        report.plots = offload_report.plots(report, scenarios, modes, out)
    publish(report, out, console)
    return report
