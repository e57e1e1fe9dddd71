"""`edgefleet bench intent` on a tiny budget: the real recogniser on generated commands; the
report has a row per split whose verdicts add up, the check and the plot (the figures
themselves are docs/bench/'s)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgefleet.bench.cli import app
from edgefleet.bench.intent import IntentBenchConfig, run_intent_bench
from tests.fixtures.requires import require_models, require_tools

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_tiny_run_writes_the_report(tmp_path: Path) -> None:
    require_models("voice-command")
    require_tools("espeak-ng", "flite")
    cfg = IntentBenchConfig(clips=6, splits=("held_out", "flite"))
    report = run_intent_bench(cfg, tmp_path)
    data = json.loads((tmp_path / "intent.json").read_text())
    rows = {r["split"]: r for r in data["results"]["accuracy"]}
    assert set(rows) == {"held_out", "flite"}
    for row in rows.values():
        assert row["clips"] == 6
        assert row["right"] + row["wrong"] + row["missed"] == pytest.approx(100.0)
        assert row["p50_ms"] > 0
    [check] = data["checks"]
    assert check["value"] == pytest.approx(rows["held_out"]["right"])
    assert data["passed"] == report.passed
    assert (tmp_path / "intent-accuracy.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--split", "nope"], "unknown split"), (["--clips", "0"], "--clips must be >= 1")],
)
def test_bad_options_are_refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["intent", *args])
    assert result.exit_code == 2
    assert message in result.output
