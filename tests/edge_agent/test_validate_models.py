"""`edgefleet agent --validate-config` checks the model ids against the catalogue (issue #14)."""

import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.cli import app
from models.catalogue import load_catalogue

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))

CONFIG = """
device_id: cam-01
broker: {host: 127.0.0.1, port: 1884}
models: [face-detect-lite, face-detect-lte]
"""


def test_validate_config_refuses_an_unknown_model_naming_it_and_the_known_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG)
    proc = subprocess.run(
        [EDGEFLEET, "agent", "--config", str(path), "--validate-config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "OK" not in proc.stdout
    assert "face-detect-lte" in proc.stderr
    for known in load_catalogue().ids:
        assert known in proc.stderr
    assert "models.1" in proc.stderr  # which entry of the file


def test_validate_config_still_accepts_catalogue_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG.replace("face-detect-lte", "wakeword-lite"))
    with pytest.raises(SystemExit) as exit_:
        app(["--config", str(path), "--validate-config"])
    out = capsys.readouterr()
    assert exit_.value.code == 0, out.err
    assert "OK" in out.out
