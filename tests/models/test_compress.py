"""`edgefleet models compress`: a float model becomes an int8 catalogue model of this machine,
measured; what cannot be compressed is refused with a reason; an agent serves the result."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contract import Topics
from edgefleet.compress import CompressError, compress
from edgefleet.compress.flatbuffer import to_float32
from models.catalogue import LOCAL_CATALOGUE, Catalogue, load_catalogue
from models.cli import app
from models.datasets.faces import generate
from models.errors import CatalogueError, ModelIntegrityError
from models.fetch import model_path, verified_files
from models.pipelines import load_pipeline
from models.runtimes import load_runtime
from tests.fixtures.agents import AgentStarter

FULL = "face-detect-full"


@pytest.fixture
def small_dir(catalogue: Catalogue, model_dir: Path, tmp_path: Path) -> Path:
    """A model directory of its own holding face-detect-full's verified files."""
    spec = catalogue.get(FULL)
    shutil.copytree(model_path(spec, model_dir), model_path(spec, tmp_path / "models"))
    return tmp_path / "models"


@pytest.mark.long  # make test-long: make test is over its 15-minute budget on this machine
def test_float32_model_computes_what_the_float16_file_does(
    catalogue: Catalogue, model_dir: Path, tmp_path: Path
) -> None:
    spec = catalogue.get(FULL)
    original = model_path(spec, model_dir) / spec.files[0].name
    unpacked = tmp_path / "float32.tflite"
    unpacked.write_bytes(to_float32(original.read_bytes()))
    assert unpacked.stat().st_size > 1.9 * original.stat().st_size  # weights now 4 bytes
    x = np.random.default_rng(0).uniform(-1, 1, (1, 192, 192, 3)).astype(np.float32)
    a, b = load_runtime(original), load_runtime(unpacked)
    for left, right in zip(a.invoke(x), b.invoke(x), strict=True):
        np.testing.assert_array_equal(left, right)


@pytest.mark.slow
@pytest.mark.long  # quantises face-detect-full
def test_compressed_face_detector_is_a_pinned_model_that_finds_the_same_faces(
    small_dir: Path,
) -> None:
    report = compress(FULL, small_dir, samples=30)
    assert report.compressed == "face-detect-full-int8"
    assert report.size_ratio <= 0.35
    assert report.after.bytes < report.before.bytes
    assert abs(report.after.accuracy - report.before.accuracy) <= 5.0
    catalogue = load_catalogue(model_dir=small_dir)
    spec = catalogue.get("face-detect-full-int8")
    assert (spec.source, spec.derived_from) == ("local", FULL)
    assert verified_files(spec, small_dir)  # sha256-pinned when made
    listed = CliRunner().invoke(app, ["verify", spec.id, "--model-dir", str(small_dir)])
    assert listed.exit_code == 0, listed.output
    image = generate(1, seed=21, sources=["astronaut"], negative_fraction=0.0)[0]
    before = load_pipeline(FULL, catalogue, small_dir).run(image.jpeg)
    after = load_pipeline(spec.id, catalogue, small_dir).run(image.jpeg)
    assert len(after.faces) == len(before.faces) >= 1  # type: ignore[attr-defined]
    file = model_path(spec, small_dir) / spec.files[0].name
    file.write_bytes(file.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelIntegrityError):
        load_pipeline(spec.id, catalogue, small_dir)


def test_what_cannot_be_compressed_is_refused_with_the_reason(small_dir: Path) -> None:
    with pytest.raises(CompressError, match="no representative data set for tabular"):
        compress("engine-fault", small_dir)
    with pytest.raises(CompressError, match="already quantised"):
        compress("wakeword-lite", small_dir)
    result = CliRunner().invoke(app, ["compress", "engine-fault", "--model-dir", str(small_dir)])
    assert result.exit_code == 2
    assert "no representative data set" in result.output
    assert not (small_dir / LOCAL_CATALOGUE).exists()  # nothing half-written


def test_a_broken_local_catalogue_is_named(small_dir: Path) -> None:
    (small_dir / LOCAL_CATALOGUE).write_text('{"models": [{"id": "x"}]}')
    with pytest.raises(CatalogueError, match=LOCAL_CATALOGUE):
        load_catalogue(model_dir=small_dir)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.mosquitto
@pytest.mark.timeout(120)
def test_an_agent_serves_the_compressed_model(
    small_dir: Path, observed_agents: AgentStarter
) -> None:
    compress(FULL, small_dir, samples=4)
    model = "face-detect-full-int8"
    agent = observed_agents.start("cam-8", (model,), env={"EDGEFLEET_MODEL_DIR": str(small_dir)})
    t = Topics()
    agent.probe.wait_for(t.status("cam-8"), timeout=60)
    image = generate(1, seed=22, sources=["astronaut"], negative_fraction=0.0)[0]
    agent.probe.publish(t.infer("cam-8", model, "r1"), image.jpeg)
    result = agent.probe.wait_for(t.result("cam-8", model, "r1"), timeout=30).json()
    assert result["model_version"] == "full-range-0.6.0-int8", agent.output()
    assert len(result["output"]["faces"]) >= 1
