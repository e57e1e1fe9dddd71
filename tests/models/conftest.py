"""Fixtures for the models tests: verified model files, loaded pipelines, synthetic speech."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from models.catalogue import Catalogue, load_catalogue
from models.errors import ModelError
from models.fetch import ensure_files, verified_files
from models.files import default_model_dir
from models.pipelines import AnyPipeline, load_pipeline
from tests.fixtures.requires import require_tools

SAMPLE_RATE = 16_000


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def model_dir(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's model dir if it verifies (bootstrap fetched it), else a fresh fetch."""
    try:
        for spec in catalogue.models:
            verified_files(spec)
    except ModelError:
        directory = tmp_path_factory.mktemp("models")
        for spec in catalogue.models:
            ensure_files(spec, directory)
        return directory
    return default_model_dir()


@pytest.fixture(scope="session")
def pipelines(catalogue: Catalogue, model_dir: Path) -> dict[str, AnyPipeline]:
    return {m: load_pipeline(m, catalogue, model_dir) for m in catalogue.ids}


def synthesize(text: str, voice: str = "en-us", speed: int = 150) -> np.ndarray:
    """espeak-ng (22,050 Hz WAV) -> sox -> int16 16 kHz mono, with 0.5 s of silence each side."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        require_tools("espeak-ng", "sox")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    raw = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-",
        ],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    silence = np.zeros(SAMPLE_RATE // 2, np.int16)
    return np.concatenate([silence, np.frombuffer(raw, np.int16), silence])
