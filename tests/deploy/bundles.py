"""Bundle helpers: the real `edgefleet bundle` command, wheels cached under var/cache/wheels
(so a repeat run needs no network), the x86_64 bundle built once per session (also for
tests/e2e, which imports the fixture from here)."""

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEEL_CACHE = ROOT / "var" / "cache" / "wheels"
EDGEFLEET = [sys.executable, "-c", "from edgefleet.cli import main; main()"]
PACKAGES = tuple(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"
    ]["packages"]
)


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


def extract(tarball: Path, into: Path) -> Path:
    """The bundle directory of `tarball`, extracted as a device would (`data` filter)."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    (bundle,) = into.iterdir()
    return bundle


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def x86_64_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "x86_64" not in _BUILT:  # one build even when two modules import the fixture
        _BUILT["x86_64"] = build("x86_64", tmp_path_factory.mktemp("bundle-x86_64"))
    return _BUILT["x86_64"]


SOURCES = ("pyproject.toml", "README.md", "constraints.txt")
VERSION_AT = (("pyproject.toml", 'version = "'), ("edgefleet/__init__.py", '__version__ = "'))


def build_variant(
    out: Path, version: str, patch: Callable[[Path], None] | None = None, arch: str = "x86_64"
) -> Path:
    """A bundle of this project as another version: the tracked sources copied to `out/src`,
    the version set in pyproject.toml and edgefleet/__init__.py, `patch(src)` applied (e.g. a
    release that breaks on purpose), then the real `edgefleet bundle` run from that copy."""
    src = out / "src"
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES, *SOURCES], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    for name in tracked:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    for file, old in VERSION_AT:
        text = (src / file).read_text()
        start = text.index(old) + len(old)
        (src / file).write_text(text[:start] + version + text[text.index('"', start) :])
    if patch is not None:
        patch(src)
    options = ["--arch", arch, "--out", str(out), "--cache-dir", str(WHEEL_CACHE)]
    done = subprocess.run(
        [*EDGEFLEET, "bundle", *options],
        capture_output=True, text=True, timeout=1800, cwd=src,
        env={**os.environ, "PYTHONPATH": str(src)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (tarball,) = out.glob(f"edgefleet-{version}-{arch}-py*.tar.gz")
    return tarball
