"""`edgefleet bench fl`, start to end: measure (live, then simulated), check, report."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from edgefleet.bench.fl import report as fl_report
from edgefleet.bench.fl.checks import fl_checks
from edgefleet.bench.fl.config import FlBenchConfig
from edgefleet.bench.fl.live import live
from edgefleet.bench.fl.sim import simulate
from edgefleet.bench.report import Report, print_report, write_report


def run_fl_bench(cfg: FlBenchConfig) -> Report:
    report = Report(
        "fl",
        "Federated learning: engine-fault, non-IID engines",
        config={k: str(v) for k, v in cfg.__dict__.items()},
    )
    with tempfile.TemporaryDirectory(prefix="edgefleet-bench-fl-") as tmp:
        measured = asyncio.run(live(cfg, Path(tmp)))
    report.notes.append(fl_report.live_note(cfg, measured["broker"]))
    report.tables.append(fl_report.live_table(measured["rows"]))
    sim = simulate(cfg)
    report.tables.append(fl_report.accuracy_table(cfg, sim))
    report.extra["curves"] = {"fedavg": sim.fedavg, "centralised": sim.centralised}
    # a round the accuracy gate refused was aggregated and validated like a published one
    finished = [
        r for r in measured["rows"] if r["state"] == "published" or r.get("gate") == "refused"
    ]
    report.checks += fl_checks(cfg, sim, finished)
    if cfg.plots:
        report.plots += fl_report.plots(cfg, sim, finished)
    return report


def main(cfg: FlBenchConfig) -> bool:
    """Run, print and write; True when every target passed."""
    report = run_fl_bench(cfg)
    print_report(report)
    print(f"report: {write_report(report, cfg.out)}")
    return report.passed
