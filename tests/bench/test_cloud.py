"""`edgefleet bench cloud` on a tiny budget: the hub's real batcher and models; the report has
both batch sizes per model, batches really formed, the check and the plot (the figures
themselves are docs/bench/'s)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgefleet.bench.cli import app
from edgefleet.bench.cloud import CloudBenchConfig, run_cloud_bench
from tests.fixtures.requires import require_models

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_tiny_run_writes_the_report(tmp_path: Path) -> None:
    require_models("face-detect-full", "engine-fault-cloud")
    cfg = CloudBenchConfig(models=("face-detect-full", "engine-fault-cloud"), images=16, rounds=1)
    report = run_cloud_bench(cfg, tmp_path)
    data = json.loads((tmp_path / "cloud.json").read_text())
    rows = {(r["model"], r["max_batch"]): r for r in data["results"]["throughput"]}
    assert set(rows) == {(m, b) for m in cfg.models for b in (1, 8)}
    for model in cfg.models:
        alone, batched = rows[(model, 1)], rows[(model, 8)]
        assert alone["mean_batch"] == 1.0
        assert batched["mean_batch"] > 1.0  # the batcher really took requests together
        assert batched["n"] == alone["n"] == 16
        assert batched["speedup"] == pytest.approx(batched["per_s"] / alone["per_s"], rel=1e-3)
    assert [c["name"] for c in data["checks"]] == ["face-detect-full: batch 8 / one at a time"]
    assert data["passed"] == report.passed
    assert (tmp_path / "cloud-throughput.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "no-such-model"], "unknown model"),
        (["-m", "wakeword-full"], "only face detectors and engine models"),
        (["--batch", "1"], "--batch must be >= 2"),
    ],
)
def test_bad_options_are_refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["cloud", *args])
    assert result.exit_code == 2
    assert message in result.output
