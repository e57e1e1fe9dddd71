"""What a bundle tarball was built for, read from its `manifest.json` (written by `build.py`):
`edgefleet flash` checks it against the image before copying the bundle onto a card, because
`install.sh` can only refuse a mismatch on the device, at first boot, where nobody sees it; the
hub reads it from an uploaded agent release's bytes, without touching its disk."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MANIFEST = "manifest.json"
ARCHES = ("aarch64", "armv7l", "x86_64")
"""The CPUs `edgefleet bundle` builds for."""


class ManifestError(ValueError):
    """The file is not a bundle, or its manifest cannot be read; the message says which."""


@dataclass(frozen=True)
class BundleTarget:
    version: str
    arch: str
    python: str


def read_target(tarball: Path) -> BundleTarget:
    """The version, architecture and Python of the bundle at `tarball` (`<name>/manifest.json`)."""
    try:
        with tarball.open("rb") as f:
            return read_target_from(f, str(tarball))
    except OSError as exc:
        raise ManifestError(f"{tarball}: not a bundle (.tar.gz): {exc}") from None


def read_target_from(source: IO[bytes] | bytes, where: str = "the bundle") -> BundleTarget:
    """`read_target` of a bundle's bytes or an open binary file; `where` names it in errors."""
    fileobj = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with tarfile.open(fileobj=fileobj, mode="r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == MANIFEST and member.isfile():
                    raw = tar.extractfile(member)
                    doc: Any = json.loads(raw.read()) if raw is not None else None
                    break
            else:
                raise ManifestError(f"{where}: no {MANIFEST}: not an edgefleet bundle")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ManifestError(f"{where}: not a bundle (.tar.gz): {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where}: {MANIFEST} is not JSON: {exc}") from None
    try:
        return BundleTarget(str(doc["version"]), str(doc["arch"]), str(doc["python"]))
    except (KeyError, TypeError):
        raise ManifestError(
            f"{where}: {MANIFEST} lacks version/arch/python: not an edgefleet bundle"
        ) from None
