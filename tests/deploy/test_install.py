"""`install.sh --stage R`'s refusals and its clean-up, run for real by `sh` on a small fake
bundle (the real install.sh and launch.sh, empty wheels, a model file, true SHA256SUMS): every
case here stops before pip would need a real wheel. A real bundle staged and installed end to
end is tests/e2e/test_bundle_e2e.py."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent import launcher

BUNDLE_SRC = Path(__file__).resolve().parents[2] / "deploy" / "bundle"
VERSION = "9.0.0"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def make_bundle(root: Path, python: str = PY) -> Path:
    bundle = root / f"edgefleet-{VERSION}-x86_64"
    (bundle / "wheelhouse").mkdir(parents=True)
    (bundle / "models" / "m" / "1").mkdir(parents=True)
    for script in ("install.sh", "launch.sh"):
        shutil.copy2(BUNDLE_SRC / script, bundle / script)
    (bundle / "wheelhouse" / "pip-0-py3-none-any.whl").write_bytes(b"")
    (bundle / f"edgefleet-{VERSION}-py3-none-any.whl").write_bytes(b"")
    (bundle / "models" / "m" / "1" / "model.tflite").write_bytes(b"weights")
    (bundle / "VERSION").write_text(VERSION + "\n")
    (bundle / "PYTHON_VERSION").write_text(python + "\n")
    seal(bundle)
    return bundle


def seal(bundle: Path) -> None:
    files = sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(bundle)}\n"
                   for p in files)  # fmt: skip
    (bundle / "SHA256SUMS").write_text(sums)


def stage(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(bundle / "install.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    """R with a current and a previous release (stand-ins: a marker file each)."""
    r = tmp_path / "releases"
    for version in ("1.0.0", "1.1.0"):
        (r / version).mkdir(parents=True)
        (r / version / "marker").write_text(version)
    (r / launcher.CURRENT).symlink_to("1.1.0")
    (r / launcher.PREVIOUS).symlink_to("1.0.0")
    return r


def test_stage_refuses_the_current_release(tmp_path: Path, releases: Path) -> None:
    bundle = make_bundle(tmp_path)
    (releases / VERSION).mkdir()
    (releases / VERSION / "marker").write_text("running")
    (releases / launcher.CURRENT).unlink()
    (releases / launcher.CURRENT).symlink_to(VERSION)
    before = tree(releases)
    done = stage(bundle, "--stage", str(releases))
    assert done.returncode == 1
    assert f"{VERSION} is the current release in {releases}: nothing to stage" in done.stderr
    assert tree(releases) == before
    assert (releases / VERSION / "marker").read_text() == "running"


def test_stage_refuses_a_bundle_that_does_not_match_its_sums(
    tmp_path: Path, releases: Path
) -> None:
    bundle = make_bundle(tmp_path)
    (bundle / "models" / "m" / "1" / "model.tflite").write_bytes(b"tampered")
    before = tree(releases)
    done = stage(bundle, "--stage", str(releases))
    assert done.returncode == 1
    assert "bundle files do not match SHA256SUMS" in done.stderr
    assert tree(releases) == before


def test_stage_refuses_another_python(tmp_path: Path, releases: Path) -> None:
    bundle = make_bundle(tmp_path, python="3.99")
    before = tree(releases)
    done = stage(bundle, "--stage", str(releases), "--python", sys.executable)
    assert done.returncode == 1
    assert f"this bundle is for Python 3.99, {sys.executable} is {PY}" in done.stderr
    assert tree(releases) == before


def test_stage_failure_removes_the_half_built_release(tmp_path: Path, releases: Path) -> None:
    """The interpreter builds the venv, whose python then fails (as a broken wheelhouse or a
    full disk would make pip fail): R/<VERSION> goes, nothing else in R changes."""
    bundle = make_bundle(tmp_path)
    python = tmp_path / "python-that-breaks-its-venvs"
    python.write_text(
        "#!/bin/sh\n"
        f'{sys.executable} "$@" || exit\n'
        'if [ "$2" = venv ]; then\n'
        '  for d in "$5"/lib/python*/site-packages; do\n'
        "    echo 'import os; os._exit(3)' > \"$d/sitecustomize.py\"\n"
        "  done\n"
        "fi\n"
    )
    python.chmod(0o755)
    before = tree(releases)
    done = stage(bundle, "--stage", str(releases), "--python", str(python))
    assert done.returncode != 0
    assert f"creating {releases}/{VERSION}/venv" in done.stdout  # it got that far
    assert tree(releases) == before


@pytest.mark.parametrize("option", [["--prefix", "/opt/x"], ["--enable"], ["--hub", "http://h"]])
def test_stage_takes_only_python(tmp_path: Path, releases: Path, option: list[str]) -> None:
    done = stage(make_bundle(tmp_path), "--stage", str(releases), *option)
    assert done.returncode == 1
    assert f"--stage takes only --python (not {option[0]})" in done.stderr


def test_stage_needs_an_existing_directory(tmp_path: Path) -> None:
    done = stage(make_bundle(tmp_path), "--stage", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "not a directory" in done.stderr
    assert not (tmp_path / "nowhere").exists()
