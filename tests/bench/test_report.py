"""The shared benchmark helpers: statistics, checks, table, JSON and PNG."""

import io
import json
import math
from pathlib import Path

from rich.console import Console

from edgefleet.bench import report as r
from edgefleet.bench.plots import bar_chart


def test_percentile_and_summary() -> None:
    values = [float(v) for v in range(1, 101)]
    assert r.percentile(values, 50) == 50.5
    assert r.percentile(values, 0) == 1.0
    assert r.percentile(values, 100) == 100.0
    assert math.isnan(r.percentile([], 50))
    s = r.Summary.of(values)
    assert (s.n, s.min, s.max, s.mean) == (100, 1.0, 100.0, 50.5)
    assert r.Summary.of([]).as_dict()["p50"] is None  # NaN becomes JSON null


def test_checks_pass_fail_and_unmeasured() -> None:
    assert r.check_max("x", 2.0, 3.0, "ms").verdict == "PASS"
    assert r.check_max("x", 4.0, 3.0, "ms").verdict == "FAIL"
    assert r.check_min("y", 90.0, 85.0, "%").verdict == "PASS"
    assert r.check_min("y", None, 85.0).verdict == "n/a"
    assert r.check_min("y", math.nan, 85.0).passed is None


def _report() -> r.Report:
    table = r.Table(
        "latency",
        "Latency",
        [r.Column("model", "model", justify="left"), r.Column("p50_ms", "p50 ms")],
        [{"model": "m1", "p50_ms": 1.234}, {"model": "m2", "p50_ms": None}],
    )
    return r.Report(
        "unit",
        "Unit bench",
        tables=[table],
        config={"out": Path("x"), "n": 3},
        checks=[r.check_max("m1 p50", 1.234, 2.0, "ms"), r.check_min("rate", 50.0, 85.0, "%")],
        notes=["a note"],
    )


def test_print_report_shows_rows_and_verdicts() -> None:
    buf = io.StringIO()
    r.print_report(_report(), Console(file=buf, width=200))
    text = buf.getvalue()
    assert "m1" in text
    assert "1.23" in text
    assert "PASS" in text
    assert "FAIL" in text
    assert "a note" in text


def test_write_report_json_structure(tmp_path: Path) -> None:
    rep = _report()
    path = r.write_report(rep, tmp_path / "out")
    data = json.loads(path.read_text())
    assert path.name == "unit.json"
    for key in ("machine", "versions", "config", "results", "checks", "passed", "columns"):
        assert key in data
    assert data["machine"]["cpu_count"] >= 1
    assert data["versions"]["numpy"]
    assert data["config"] == {"out": "x", "n": 3}
    assert data["results"]["latency"][1]["p50_ms"] is None
    assert [c["verdict"] for c in data["checks"]] == ["PASS", "FAIL"]
    assert data["passed"] is False


def test_bar_chart_writes_png(tmp_path: Path) -> None:
    path = bar_chart(
        tmp_path / "p.png",
        ["a", "b"],
        {"s1": [1.0, 2.0], "s2": [None, 3.0]},
        errors={"s1": [1.5, 2.5], "s2": [None, 4.0]},
        title="t",
        ylabel="ms",
        log=True,
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
