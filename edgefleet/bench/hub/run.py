"""`edgefleet bench hub`, start to end: measure, check the targets, report."""

from __future__ import annotations

from edgefleet.bench.hub import report as hub_report
from edgefleet.bench.hub.checks import hub_checks
from edgefleet.bench.hub.config import HubBenchConfig
from edgefleet.bench.hub.fleet_api import fleet_run
from edgefleet.bench.hub.ingest import ingest_run
from edgefleet.bench.report import Report, print_report, write_report


def run_hub_bench(cfg: HubBenchConfig) -> Report:
    """Per database: ingest without a broker and through each broker, then the fleet API."""
    report = Report(
        "hub",
        "Hub: MQTT health ingest and fleet API at 10,000 devices",
        config={k: v for k, v in vars(cfg).items() if k != "out"},
    )
    ingest, fleet = hub_report.tables(cfg.fleet_devices)
    for db_kind in cfg.databases:
        for broker_kind in (None, *cfg.brokers):
            row = ingest_run(db_kind, broker_kind, cfg)
            ingest.rows.append(row)
            print(f"ingest {db_kind}/{row['broker']}: {row['rate']:.0f} msg/s", flush=True)
        fleet.rows += fleet_run(db_kind, cfg)
    report.tables += [ingest, fleet]
    report.checks += hub_checks(ingest.rows, fleet.rows)
    report.notes.append("2 cores shared by broker, hub and the publisher process.")
    return report


def main(cfg: HubBenchConfig) -> bool:
    """Run, plot, print and write; True when every target passed."""
    report = run_hub_bench(cfg)
    hub_report.draw_plots(report, cfg.out)
    print_report(report)
    path = write_report(report, cfg.out)
    print(f"report: {path}")
    return report.passed
