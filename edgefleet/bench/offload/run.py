"""`edgefleet bench offload`, start to end: measure, check the targets, report."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgefleet.bench.offload import report as offload_report
from edgefleet.bench.offload.checks import checks
from edgefleet.bench.offload.config import MODES, SCENARIOS, OffloadBenchConfig
from edgefleet.bench.offload.fleet import offload_fleet, split_cpus
from edgefleet.bench.offload.measure import load_samples, measure_scenarios
from edgefleet.bench.report import Report, print_report, say, write_report
from edgefleet.procs.broker import broker_kind, broker_process


def run_offload_bench(cfg: OffloadBenchConfig, out: Path, console: Any = None) -> Report:
    """The four modes through every scenario on both data sets; prints and writes the report."""
    cfg.validate()
    scenarios = [s for s in SCENARIOS if s in cfg.scenarios]  # `down` kills the hub: last
    modes = [m for m in MODES if m in cfg.modes]
    samples, notes = load_samples(cfg)
    kind = broker_kind(cfg.broker)
    cpus = split_cpus()
    report = Report(
        "offload",
        "Collaborative inference: edge-only, cloud-only, adaptive, cascade (docs/benchmarks.md)",
        config={**asdict(cfg), "broker": kind, "device_cpus": sorted(cpus[0])},
    )
    report.notes += notes
    device_load: dict[str, float] = {}
    report.extra["device_cpu_busy_pct"] = device_load
    with tempfile.TemporaryDirectory(prefix="edgefleet-bench-offload-") as tmp:
        work = Path(tmp)
        with (
            broker_process(kind, work) as port,
            offload_fleet(work, port, cfg, modes, cpus) as fleet,
        ):
            tallies = measure_scenarios(cfg, fleet, scenarios, samples, device_load, console)
    report.tables += offload_report.tables(tallies, scenarios, modes)
    report.checks = checks(report, scenarios)
    report.notes += offload_report.notes(cfg, cpus[0], device_load)
    if cfg.plots:
        report.plots = offload_report.plots(report, scenarios, modes, out)
    print_report(report, console)
    path = write_report(report, out)
    say(console, f"wrote {path}" + "".join(f", {p}" for p in report.plots))
    return report
