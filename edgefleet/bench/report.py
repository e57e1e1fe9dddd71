"""What every benchmark shares: statistics, PASS/FAIL checks, a rich table, JSON and PNG plots.

A benchmark builds a `Report` (its config, result rows and checks), then calls `print_report`
and `write_report`; the latter writes `<out>/<name>.json` with the machine and package
versions, and the plots the benchmark asked for go next to it (matplotlib, Agg backend).
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("bench-results")
DEFAULT_PACKAGES: tuple[str, ...] = (
    "edgefleet",
    "numpy",
    "opencv-python-headless",
    "ai-edge-litert",
    "pymicro-wakeword",
    "paho-mqtt",
    "aiomqtt",
    "amqtt",
    "pydantic",
)


# ------------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in 0..100; NaN when empty."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    """Latency statistics in milliseconds."""

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Summary:
        if not values_ms:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan)
        return cls(
            n=len(values_ms),
            p50=percentile(values_ms, 50),
            p90=percentile(values_ms, 90),
            p99=percentile(values_ms, 99),
            mean=sum(values_ms) / len(values_ms),
            min=min(values_ms),
            max=max(values_ms),
        )

    def as_dict(self) -> dict[str, float]:
        return {k: _num(v) for k, v in asdict(self).items()}


def _num(value: Any) -> Any:
    """JSON has no NaN: write null instead; round floats for readable files."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    return value


class Timer:
    """`with Timer() as t: ...; t.ms` - wall time of a block with perf_counter."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.ms = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self.start) * 1000.0


# ------------------------------------------------------------------------------------ checks


@dataclass(frozen=True)
class Check:
    """A target from SPEC §6 and whether this run met it."""

    name: str
    value: float | None
    target: str  # human-readable, e.g. "<= 4.1 ms (in-process p50 + 3 ms)"
    passed: bool | None  # None: could not be measured
    unit: str = ""

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": _num(self.value), "verdict": self.verdict}


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
    return _num(value)


def format_cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return fmt.format(value)
    return str(value)


def print_report(report: Report, console: Any = None) -> None:
    """Each table with rich, then the checks with PASS/FAIL, then notes."""
    from rich.console import Console
    from rich.table import Table as RichTable

    if console is None:  # piped into a file or CI log: do not squeeze the table to 80 columns
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    for t in report.tables:
        table = RichTable(title=t.title, title_justify="left", show_lines=False)
        for col in t.columns:
            table.add_column(col.title, justify=col.justify)  # type: ignore[arg-type]
        for row in t.rows:
            table.add_row(*(format_cell(row.get(c.key), c.fmt) for c in t.columns))
        console.print(table)
    if report.checks:
        checks = RichTable(title="Targets (SPEC §6)", title_justify="left")
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
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.as_dict(), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_mb": _mem_total_mb(),
        "loadavg": [round(x, 2) for x in load] if load else None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
    }


def package_versions(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


# ------------------------------------------------------------------------------------ plots


def bar_chart(
    path: Path,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    ylabel: str,
    errors: Mapping[str, Sequence[float | None]] | None = None,
    log: bool = False,
) -> Path:
    """Grouped bars: one group per category, one bar per series (None/NaN: no bar).

    `errors`, when given, draws an upper whisker per bar (e.g. p99 above a p50 bar).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(series), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(categories) * max(n, 2) * 0.6), 4.2))
    try:
        for i, (label, values) in enumerate(series.items()):
            xs = [j + (i - (n - 1) / 2) * width for j in range(len(categories))]
            ys = [math.nan if v is None else float(v) for v in values]
            bars = ax.bar(xs, ys, width=width, label=label)
            if errors and label in errors:
                ups = [
                    0.0 if (e is None or math.isnan(y)) else max(0.0, float(e) - y)
                    for e, y in zip(errors[label], ys, strict=True)
                ]
                ax.errorbar(
                    xs,
                    ys,
                    yerr=[[0.0] * len(ups), ups],
                    fmt="none",
                    ecolor="black",
                    capsize=3,
                    linewidth=0.8,
                )
            for bar, y in zip(bars, ys, strict=True):
                if not math.isnan(y):
                    ax.annotate(
                        f"{y:.3g}",
                        (bar.get_x() + bar.get_width() / 2, y),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


__all__ = [
    "DEFAULT_OUT",
    "Check",
    "Column",
    "Report",
    "Summary",
    "Table",
    "Timer",
    "bar_chart",
    "check_max",
    "check_min",
    "format_cell",
    "machine_info",
    "package_versions",
    "percentile",
    "print_report",
    "write_report",
]
