"""`edgefleet bundle`: contents, manifest, hashes and wheel tags per architecture."""

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from deploy.bundle.build import HERE, Target, wheel_accepts, wheel_tags
from tests.deploy.bundles import build


def _members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball) as tar:
        out = {}
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            if f is not None:
                out[m.name.split("/", 1)[1]] = f.read()
        return out


def test_wheel_tag_rules() -> None:
    arm = Target("aarch64", "3.11")
    assert wheel_accepts(
        "numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", arm
    )
    assert wheel_accepts("httpx-0.28.1-py3-none-any.whl", arm)
    assert wheel_accepts("psutil-7.2.2-cp36-abi3-manylinux2014_aarch64.whl", arm)
    assert not wheel_accepts("numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl", arm)
    assert not wheel_accepts("numpy-2.4.6-cp312-cp312-manylinux_2_28_aarch64.whl", arm)
    assert not wheel_accepts("x-1-cp311-cp311-manylinux_2_39_aarch64.whl", arm)  # glibc > 2.36
    assert wheel_tags("a-1-py2.py3-none-any.whl") == ({"py2", "py3"}, {"none"}, {"any"})


@pytest.mark.slow
@pytest.mark.long  # builds a second wheelhouse
def test_aarch64_bundle_has_only_aarch64_or_any_wheels(tmp_path: Path) -> None:
    tarball = build("aarch64", tmp_path)
    files = _members(tarball)
    wheels = [n.removeprefix("wheelhouse/") for n in files if n.startswith("wheelhouse/")]
    assert any(w.startswith("ai_edge_litert-") for w in wheels)  # the TFLite runtime
    assert any(w.startswith("pip-") for w in wheels)
    for wheel in wheels:
        _py, abi, plat = wheel_tags(wheel)
        assert plat == {"any"} or all(p.endswith("_aarch64") for p in plat), wheel
        assert abi <= {"none", "abi3", "cp311"}, wheel
    manifest = json.loads(files["manifest.json"])
    assert manifest["arch"] == "aarch64"
    assert {w["file"] for w in manifest["wheels"]} == set(wheels)


@pytest.mark.slow
@pytest.mark.long  # builds the x86_64 bundle (~22 s), shared with the long lane's bundle e2e
def test_x86_64_bundle_contents(x86_64_bundle: Path) -> None:
    files = _members(x86_64_bundle)
    manifest = json.loads(files["manifest.json"])
    for name in ("install.sh", "launch.sh", "agent.yaml.template", "SHA256SUMS",
                 "systemd/edgefleet-agent.service", manifest["agent_wheel"]):  # fmt: skip
        assert name in files, name
    assert files["launch.sh"] == (HERE / "launch.sh").read_bytes()
    with tarfile.open(x86_64_bundle) as tar:
        modes = {m.name.split("/", 1)[-1]: m.mode for m in tar.getmembers()}
    assert modes["launch.sh"] & 0o111
    assert modes["install.sh"] & 0o111
    # every file is in the manifest with its sha256, and SHA256SUMS agrees
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert sums == manifest["files"]
    # model files are the catalogue's, verified by sha256
    assert {m["model"] for m in manifest["models"]} == {"face-detect-lite", "wakeword-lite"}
    for m in manifest["models"]:
        data = files[f"models/{m['model']}/{m['version']}/{m['file']}"]
        assert hashlib.sha256(data).hexdigest() == m["sha256"]
    unit = files["systemd/edgefleet-agent.service"].decode()
    for line in ("User=edgefleet", "ProtectSystem=strict", "Restart=on-failure",
                 "NoNewPrivileges=yes", "UMask=0077"):  # fmt: skip
        assert line in unit


def test_unknown_arch_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "from edgefleet.cli import main; main()", "bundle", "--arch",
         "mips", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "--arch must be one of" in done.stderr
