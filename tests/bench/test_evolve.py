"""`edgefleet bench evolve`: the co-evolution simulation, its report and its CLI."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgefleet.bench.cli import app
from edgefleet.bench.evolve import EvolveBenchConfig, run_evolve_bench, vision, voice
from edgefleet.bench.evolve.heads import balanced
from edgefleet.bench.evolve.sim import simulate
from tests.fixtures.requires import require_models, require_tools


@pytest.mark.long  # make test-long: make test is over its 15-minute budget on this machine
def test_devices_learn_from_the_hubs_answers_and_the_gate_holds_back_worse_rounds() -> None:
    rows, cloud_only, first, last = simulate(EvolveBenchConfig(plots=False))
    assert [r["round"] for r in rows] == list(range(11))
    assert rows[0]["gate"] == "shipped"
    assert {r["gate"] for r in rows[1:]} <= {"published", "refused"}
    for before, after in itertools.pairwise(rows):
        if after["gate"] == "refused":  # the devices keep serving what they served
            assert after["edge"] == before["edge"]
    assert rows[-1]["edge"] > rows[0]["edge"] + 0.4 * (cloud_only - rows[0]["edge"])
    assert rows[-1]["equal_share"] <= 0.7 * rows[0]["equal_share"]
    assert first.shape == last.shape  # the same model on the device: only its weights moved


@pytest.mark.long  # make test-long: make test is over its 15-minute budget on this machine
def test_without_spot_checks_the_early_rounds_are_refused() -> None:
    """Measured: trained only on what it was unsure of, the fleet's first candidates validate
    worse than the shipped model and the gate refuses them."""
    rows, *_ = simulate(EvolveBenchConfig(plots=False, spot_checks=0.0, rounds=3))
    assert [r["gate"] for r in rows[1:]] == ["refused"] * 3


@pytest.mark.long  # make test-long: make test is over its 15-minute budget on this machine
def test_report_json_and_plots(tmp_path: Path) -> None:
    cfg = EvolveBenchConfig(out=tmp_path, rounds=2, devices=3, vision=False, voice=False)
    report = run_evolve_bench(cfg)
    assert [p.name for p in report.plots] == ["evolve_accuracy.png", "evolve_cloud_share.png"]
    assert all(p.stat().st_size > 0 for p in report.plots)
    assert {t.key for t in report.tables} == {"rounds", "tasks"}
    assert [c.name.split(":")[0] for c in report.checks] == ["engine"] * 3


@pytest.mark.slow
@pytest.mark.long  # make test-long: make test is near its 15-minute budget
@pytest.mark.parametrize("task", ["vision", "voice"])
def test_a_head_task_runs_the_real_models_and_reports_per_round(
    tmp_path: Path, task: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny run (2 devices, 2 rounds, 4 inputs each, small test and validation sets): the
    task's table, checks and plots next to the engine's; the figures are the benchmark's."""
    if task == "vision":
        require_models("face-detect-lite", "face-detect-cloud")
        monkeypatch.setattr(vision, "VISION_VALIDATION", 20)
    else:
        require_models("wakeword-lite", "wakeword-cloud")
        require_tools("espeak-ng")
        monkeypatch.setattr(voice, "VOICE_VALIDATION", 20)
    cfg = EvolveBenchConfig(
        out=tmp_path, rounds=2, devices=2, vision=task == "vision", voice=task == "voice",
        vision_images=4, vision_test=20, voice_clips=4, voice_test=20,
    )  # fmt: skip
    report = run_evolve_bench(cfg)
    assert {t.key for t in report.tables} == {"rounds", f"{task}_rounds", "tasks"}
    assert [c.name.split(":")[0] for c in report.checks] == ["engine"] * 3 + [task] * 3
    assert [p.name for p in report.plots][2:] == [
        f"evolve_{task}_accuracy.png", f"evolve_{task}_cloud_share.png",
    ]  # fmt: skip
    section = report.extra[task]
    rows = section["rounds"]
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert rows[0]["gate"] == "shipped"
    assert {r["gate"] for r in rows[1:]} <= {"published", "refused"}
    assert all(0 <= r["edge"] <= 100 and 0 <= r["sent"] <= 100 for r in rows)
    assert rows[2]["kept"] >= rows[1]["kept"]  # hard samples accumulate (bounded by keep)
    assert 0 < section["cloud_only"] <= 100
    assert "params" not in rows[-1]
    json.dumps(section)  # the report's JSON holds it


def test_balanced_repeats_the_rare_class_up_to_the_common_one() -> None:
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    y = np.array([1, 1, 1, 0, 1])
    bx, by = balanced(x, y)
    assert sorted(by.tolist()) == [0] * 4 + [1] * 4
    assert (bx[by == 0] == x[3]).all()
    assert balanced(x, np.ones(5, np.int64))[1].tolist() == [1] * 5  # one class: as it is


def test_cli_writes_json_and_refuses_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["evolve", "--band", "1.5", "--out", str(tmp_path)])
    assert bad.exit_code == 2
    assert "--band" in bad.output
    ok = runner.invoke(
        app,
        [
            "evolve",
            "--rounds",
            "2",
            "--devices",
            "2",
            "--no-vision",
            "--no-voice",
            "--no-plots",
            "--out",
            str(tmp_path),
        ],
    )
    assert ok.exit_code in (0, 1), ok.output  # 1: a target missed in so short a run
    data = json.loads((tmp_path / "evolve.json").read_text())
    assert data["benchmark"] == "evolve"
    assert len(data["results"]["rounds"]) == 3
    assert not {"vision", "voice"} & set(data)  # --no-vision --no-voice
