"""`edgefleet bench camera` on a tiny budget: real agent, ffmpeg stream and broker; the report
has both tables, the two checks and the plot (the figures themselves are docs/bench/'s)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgefleet.bench.camera import CameraBenchConfig, run_camera_bench
from edgefleet.bench.camera.scoring import scenes_found
from edgefleet.bench.cli import app
from models.datasets.faces import generate
from tests.fixtures.requires import require_models, require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.mark.long  # make test-long: make test is at its 15-minute budget
def test_tiny_run_writes_the_report(tmp_path: Path) -> None:
    require_models("face-detect-full")
    require_tools("ffmpeg")
    cfg = CameraBenchConfig(seconds=2.0, warmup_s=0.5, scenes=6)
    report = run_camera_bench(cfg, tmp_path)
    data = json.loads((tmp_path / "camera.json").read_text())
    rows = {row["scenario"]: row for row in data["results"]["scenarios"]}
    assert set(rows) == {"still", "moving"}
    assert rows["moving"]["inferred_per_s"] > rows["still"]["inferred_per_s"]
    assert all(row["fps"] > 0 and row["cpu_pct"] > 0 for row in rows.values())
    (accuracy,) = data["results"]["accuracy"]
    assert accuracy["scenes"] == 6
    assert 0 <= accuracy["camera_found"] <= 6
    assert [c["name"] for c in data["checks"]] == [
        "agent CPU, still / moving",
        "scenes found via the camera",
    ]
    assert data["passed"] == report.passed
    assert data["plots"] == ["camera-cpu.png"]
    assert (tmp_path / "camera-cpu.png").stat().st_size > 0


def test_results_are_matched_to_scenes_in_order() -> None:
    scenes = generate(3, seed=1, sources=["astronaut"], max_faces=1, negative_fraction=0.0)

    def result(box: object) -> bytes:
        return json.dumps({"output": {"faces": [{"box": box, "score": 1.0}]}}).encode()

    right = [result(list(s.boxes[0])) for s in scenes]
    wrong = result([0, 0, 1, 1])
    assert scenes_found(scenes, right) == [True, True, True]
    # a miss does not shift the rest; an extra result in between is skipped
    assert scenes_found(scenes, [right[0], wrong, right[2]]) == [True, False, True]
    assert scenes_found(scenes, [right[0], wrong, right[1], right[2]]) == [True, True, True]


def test_bad_options_are_refused_with_a_message() -> None:
    result = CliRunner().invoke(app, ["camera", "--model", "wakeword-lite"])
    assert result.exit_code == 2
    assert "face detector" in result.output
