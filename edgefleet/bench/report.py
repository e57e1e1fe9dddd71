"""What every benchmark's report is made of: PASS/FAIL checks, tables, a rich print and JSON.

A benchmark builds a `Report` (its config, result rows and checks), then calls `print_report`
and `write_report`; the latter writes `<out>/<name>.json` with the machine and package
versions (`machine.py`), and the plots the benchmark asked for (`plots.py`) go next to it.
Statistics live in `stats.py`; `Summary` and `percentile` are re-exported here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgefleet.bench.machine import DEFAULT_PACKAGES, machine_info, package_versions
from edgefleet.bench.stats import Summary, Timer, json_number, percentile
from models.files import write_atomic

DEFAULT_OUT = Path("bench-results")


# ------------------------------------------------------------------------------------ checks


@dataclass(frozen=True)
class Check:
    """A target from docs/benchmarks.md and whether this run met it."""

    name: str
    value: float | None
    target: str  # human-readable, e.g. "<= 4.1 ms (in-process p50 + 3 ms)"
    passed: bool | None  # None: could not be measured
    unit: str = ""

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": json_number(self.value), "verdict": self.verdict}


def check_max(
    name: str, value: float | None, limit: float, unit: str = "", note: str = ""
) -> Check:
    ok = None if value is None or math.isnan(value) else value <= limit
    target = f"<= {limit:.4g} {unit}".rstrip() + (f" ({note})" if note else "")
    return Check(name, value, target, ok, unit)


def check_min(
    name: str, value: float | None, limit: float, unit: str = "", note: str = ""
) -> Check:
    ok = None if value is None or math.isnan(value) else value >= limit
    target = f">= {limit:.4g} {unit}".rstrip() + (f" ({note})" if note else "")
    return Check(name, value, target, ok, unit)


# ------------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    fmt: str = "{:.2f}"  # for numbers; other values are str()-ed
    justify: str = "right"


@dataclass
class Table:
    """One table of results: `rows` are dicts, `columns` say which keys to show and how."""

    key: str  # JSON key under "results"
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    """One benchmark run: tables of results plus the checks, ready to print and write."""

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # any further JSON sections
    notes: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "title": self.title,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "versions": package_versions(),
            "config": _jsonable(self.config),
            "columns": {t.key: [asdict(c) for c in t.columns] for t in self.tables},
            "results": {t.key: _jsonable(t.rows) for t in self.tables},
            "checks": [c.as_dict() for c in self.checks],
            "passed": self.passed,
            "plots": [p.name for p in self.plots],
            "notes": list(self.notes),
            **_jsonable(self.extra),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Summary):
        return value.as_dict()
    return json_number(value)


def format_cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return fmt.format(value)
    return str(value)


def wide_console(console: Any = None) -> Any:
    """`console`, or a new rich Console: 160 columns wide when piped into a file or CI log
    (do not squeeze the table to 80 columns)."""
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    return console


def say(console: Any, text: str) -> None:
    """A progress line: on `console` (rich) when given, else on stdout, flushed."""
    if console is not None:
        console.print(text)
    else:
        print(text, flush=True)


def print_report(report: Report, console: Any = None) -> None:
    """Each table with rich, then the checks with PASS/FAIL, then notes."""
    from rich.table import Table as RichTable

    console = wide_console(console)
    for t in report.tables:
        table = RichTable(title=t.title, title_justify="left", show_lines=False)
        for col in t.columns:
            table.add_column(col.title, justify=col.justify)  # type: ignore[arg-type]
        for row in t.rows:
            table.add_row(*(format_cell(row.get(c.key), c.fmt) for c in t.columns))
        console.print(table)
    if report.checks:
        checks = RichTable(title="Targets (docs/benchmarks.md)", title_justify="left")
        for title in ("check", "measured", "target", "verdict"):
            checks.add_column(title, justify="left" if title != "measured" else "right")
        for c in report.checks:
            style = {"PASS": "green", "FAIL": "bold red"}.get(c.verdict, "yellow")
            value = format_cell(c.value, "{:.2f}") + (f" {c.unit}" if c.unit else "")
            checks.add_row(c.name, value, c.target, f"[{style}]{c.verdict}[/{style}]")
        console.print(checks)
    for note in report.notes:
        console.print(f"note: {note}")


def write_report(report: Report, out: Path = DEFAULT_OUT) -> Path:
    """Write `<out>/<name>.json`; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{report.name}.json"
    write_atomic(path, json.dumps(report.as_dict(), indent=2, allow_nan=False) + "\n")
    return path


def publish(report: Report, out: Path, console: Any = None) -> Path:
    """The end of a benchmark run: write the JSON, print the report, say which files it wrote."""
    path = write_report(report, out)
    print_report(report, console)
    say(console, f"wrote {path}" + "".join(f", {p}" for p in report.plots))
    return path


__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_PACKAGES",
    "Check",
    "Column",
    "Report",
    "Summary",
    "Table",
    "Timer",
    "check_max",
    "check_min",
    "format_cell",
    "machine_info",
    "package_versions",
    "percentile",
    "print_report",
    "publish",
    "say",
    "wide_console",
    "write_report",
]
