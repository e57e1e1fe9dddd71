"""Build an offline-installable agent bundle (docs/deploy-install.md).

    edgefleet-<version>-<arch>-py<XY>/
      edgefleet-<version>-py3-none-any.whl   the agent (this project's wheel)
      wheelhouse/                            its dependencies for the target platform + pip
      models/<id>/<version>/<file>           catalogue model files (sha256-verified)
      agent.yaml.template                    config template
      systemd/edgefleet-agent.service        hardened unit
      install.sh                             a release (venv with --no-index + models) under
                                             $PREFIX/releases; user, unit; --stage for updates
      launch.sh                              the launcher, installed as $PREFIX/launch
      manifest.json                          versions, wheel tags, sha256 of every file
      SHA256SUMS, VERSION, PYTHON_VERSION
    -> edgefleet-<version>-<arch>-py<XY>.tar.gz

Dependency wheels come from `pip download --only-binary=:all:` for the target platform (the
`[project] dependencies` of pyproject.toml, pinned by constraints.txt), kept in a cache
directory per platform so that a second build needs no network: a build first tries the cache
alone (`--no-index --find-links CACHE`) and only downloads when that cannot resolve.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.bundle.manifest import ARCHES, MANIFEST

GLIBC_MAX = 36  # Raspberry Pi OS / Debian 12 (bookworm) ship glibc 2.36
GLIBC_MIN = 17
HERE = Path(__file__).resolve().parent
DEPLOY = HERE.parent
DEFAULT_MODELS = ("face-detect-lite", "wakeword-lite")

Progress = Callable[[str, int, int], None]  # (step, done, total)


class BundleError(Exception):
    """The bundle cannot be built; the message says why."""


@dataclass(frozen=True)
class Target:
    arch: str
    python: str  # "3.11"

    @property
    def py_nodot(self) -> str:
        return self.python.replace(".", "")

    @property
    def platforms(self) -> list[str]:
        """manylinux tags a Debian 12 device accepts, newest first (pip does not expand them)."""
        tags = [f"manylinux_2_{v}_{self.arch}" for v in range(GLIBC_MAX, GLIBC_MIN - 1, -1)]
        tags.append(f"manylinux2014_{self.arch}")
        if self.arch == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return tags

    def accepts(self, wheel_name: str) -> bool:
        """Whether a wheel file name's tags install on this target."""
        return wheel_accepts(wheel_name, self)


def wheel_tags(wheel_name: str) -> tuple[set[str], set[str], set[str]]:
    """(python, abi, platform) tag sets of a wheel file name (PEP 427)."""
    parts = wheel_name.removesuffix(".whl").split("-")
    if len(parts) < 5:
        raise BundleError(f"not a wheel file name: {wheel_name}")
    py, abi, plat = parts[-3:]
    return set(py.split(".")), set(abi.split(".")), set(plat.split("."))


def wheel_accepts(wheel_name: str, target: Target) -> bool:
    _py, abi, plat = wheel_tags(wheel_name)
    plat_ok = "any" in plat or bool(plat & set(target.platforms))
    abi_ok = bool(abi & {"none", "abi3", f"cp{target.py_nodot}"})
    return plat_ok and abi_ok


def project_root() -> Path:
    return DEPLOY.parent


def agent_requirements(root: Path) -> list[str]:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return [str(d) for d in data["project"]["dependencies"]]


def project_version(root: Path) -> str:
    return str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pip(args: Sequence[str], *, offline: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if offline:
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1")
        for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )


def download_wheels(
    target: Target, requirements: Sequence[str], constraints: Path, cache: Path, dest: Path
) -> list[Path]:
    """Every wheel the requirements need on `target` (plus pip itself) into `dest`."""
    cache.mkdir(parents=True, exist_ok=True)
    dest.mkdir(parents=True, exist_ok=True)
    platform_args = [a for p in target.platforms for a in ("--platform", p)]
    common = [
        "download",
        "--only-binary=:all:",
        *platform_args,
        "--python-version",
        target.python,
        "--implementation",
        "cp",
        "--abi",
        f"cp{target.py_nodot}",
        "--abi",
        "abi3",
        "--abi",
        "none",
        "-c",
        str(constraints),
        "--progress-bar",
        "off",
    ]
    wanted = [*requirements, "pip"]
    cached = _pip(
        [*common, "--no-index", "--find-links", str(cache), "-d", str(dest), *wanted], offline=True
    )
    if cached.returncode != 0:
        fetched = _pip([*common, "-d", str(cache), *wanted], offline=False)
        if fetched.returncode != 0:
            raise BundleError(_explain_download_failure(target, fetched.stderr))
        cached = _pip(
            [*common, "--no-index", "--find-links", str(cache), "-d", str(dest), *wanted],
            offline=True,
        )
        if cached.returncode != 0:
            raise BundleError(f"pip download from the cache failed:\n{cached.stderr[-2000:]}")
    wheels = sorted(dest.glob("*.whl"))
    bad = [w.name for w in wheels if not target.accepts(w.name)]
    if bad:
        raise BundleError(f"wheels not installable on {target.arch}: {bad}")
    return wheels


def _explain_download_failure(target: Target, stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if "ERROR" in ln or "No matching" in ln]
    hint = ""
    if target.arch == "armv7l":
        hint = (
            "\n32-bit ARM: PyPI has no armv7l wheels of ai-edge-litert, onnxruntime and "
            "opencv-python-headless (piwheels.org builds some for Raspberry Pi OS); use a "
            "64-bit OS image (aarch64) instead."
        )
    detail = "\n".join(lines[-6:]) or stderr[-1500:]
    return f"no wheels for {target.arch} / Python {target.python}:\n{detail}{hint}"


def build_agent_wheel(root: Path, dest: Path) -> Path:
    done = _pip(["wheel", "--no-deps", "--quiet", "-w", str(dest), str(root)], offline=False)
    if done.returncode != 0:
        raise BundleError(f"building the agent wheel failed:\n{done.stderr[-2000:]}")
    wheels = sorted(dest.glob("edgefleet-*.whl"))
    if not wheels:
        raise BundleError("pip wheel produced no edgefleet wheel")
    return wheels[-1]


def copy_models(models: Sequence[str], dest: Path) -> list[dict[str, Any]]:
    """Verified catalogue files (models.fetch.ensure_files) under models/<id>/<version>/."""
    from models.catalogue import load_catalogue
    from models.fetch import ensure_files

    catalogue = load_catalogue()
    out = []
    for model in models:
        spec = catalogue.get(model)
        files = ensure_files(spec)
        target = dest / spec.id / spec.version
        target.mkdir(parents=True, exist_ok=True)
        for f in spec.files:
            shutil.copyfile(files[f.name], target / f.name)
            out.append(
                {
                    "model": spec.id,
                    "version": spec.version,
                    "file": f.name,
                    "sha256": f.sha256,
                    "size": f.size,
                }
            )
    return out


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def build_bundle(
    arch: str,
    *,
    python: str = "3.11",
    out_dir: Path = Path("dist"),
    models: Sequence[str] = DEFAULT_MODELS,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Build the bundle directory and its .tar.gz; returns the tarball's path."""
    if arch not in ARCHES:
        raise BundleError(f"--arch must be one of {', '.join(ARCHES)} (got {arch!r})")
    root = project_root()
    target = Target(arch, python)
    version = project_version(root)
    name = f"edgefleet-{version}-{arch}-py{target.py_nodot}"
    work = out_dir / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cache = cache_dir or root / "var" / "cache" / "wheels"
    step = progress or (lambda _s, _d, _t: None)

    step("agent wheel", 0, 1)
    agent = build_agent_wheel(root, work)
    step("agent wheel", 1, 1)
    step("dependency wheels", 0, 1)
    wheels = download_wheels(
        target,
        agent_requirements(root),
        root / "constraints.txt",
        cache / f"{arch}-cp{target.py_nodot}",
        work / "wheelhouse",
    )
    step("dependency wheels", 1, 1)
    step("models", 0, len(models))
    model_files = copy_models(models, work / "models")
    step("models", len(models), len(models))

    template = (HERE / "agent.yaml.template").read_text()
    (work / "agent.yaml.template").write_text(
        template.replace("@MODELS@", json.dumps(list(models)))
    )
    for script in ("install.sh", "launch.sh"):
        shutil.copy2(HERE / script, work / script)
        (work / script).chmod(0o755)
    (work / "systemd").mkdir()
    shutil.copyfile(
        DEPLOY / "systemd" / "edgefleet-agent.service", work / "systemd" / "edgefleet-agent.service"
    )
    (work / "VERSION").write_text(version + "\n")
    (work / "PYTHON_VERSION").write_text(python + "\n")

    files = [p for p in _files(work) if p.name not in {"SHA256SUMS", MANIFEST}]
    sums: dict[str, str] = {}
    for i, path in enumerate(files):
        sums[path.relative_to(work).as_posix()] = sha256_of(path)
        step("hashing", i + 1, len(files))
    (work / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    manifest = {
        "name": "edgefleet-agent",
        "version": version,
        "arch": arch,
        "python": python,
        "platforms": target.platforms,
        "agent_wheel": agent.name,
        "wheels": [
            {
                "file": w.name,
                "tags": [sorted(t) for t in wheel_tags(w.name)],
                "sha256": sums[f"wheelhouse/{w.name}"],
            }
            for w in wheels
        ],
        "models": model_files,
        "files": sums,
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    tarball = out_dir / f"{name}.tar.gz"
    members = list(_files(work))
    with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
        tar.add(work, arcname=name, recursive=False)
        for i, path in enumerate(members):
            tar.add(path, arcname=f"{name}/{path.relative_to(work).as_posix()}")
            step("archive", i + 1, len(members))
    return tarball
