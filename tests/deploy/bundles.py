"""Bundle helpers: the real `edgefleet bundle` command, wheels cached under var/cache/wheels
(so a repeat run needs no network), the x86_64 bundle built once per session (also for
tests/e2e, which imports the fixture from here)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEEL_CACHE = ROOT / "var" / "cache" / "wheels"
EDGEFLEET = [sys.executable, "-c", "from edgefleet.cli import main; main()"]


def build(arch: str, out: Path, python: str | None = None) -> Path:
    options = ["--arch", arch, "--out", str(out), "--cache-dir", str(WHEEL_CACHE)]
    options += ["--python", python] if python else []
    done = subprocess.run(
        [*EDGEFLEET, "bundle", *options],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (tarball,) = out.glob(f"edgefleet-*-{arch}-py*.tar.gz")
    return tarball


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def x86_64_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "x86_64" not in _BUILT:  # one build even when two modules import the fixture
        _BUILT["x86_64"] = build("x86_64", tmp_path_factory.mktemp("bundle-x86_64"))
    return _BUILT["x86_64"]
