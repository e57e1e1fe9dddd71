"""Which Raspberry Pi OS release an image holds, and what that release needs.

The release decides how first-boot set-up is taken and which Python the agent bundle must be
built for:

- Bookworm (Debian 12): Raspberry Pi Imager's `firstrun.sh`, run once by `systemd.run=` in
  `cmdline.txt`; Python 3.11;
- Trixie (Debian 13, images from 2025-10-01): cloud-init NoCloud files on the boot partition;
  Python 3.13.

It is read from the root partition's `os-release` with e2fsprogs' `debugfs` (read-only, on the
image file at the partition's offset: no root, no mount); `--release` names it when the root
partition cannot be read.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deploy.flash.image import ImageError, Partition, read_partitions

FirstBootFormat = Literal["firstrun", "cloud-init"]
LINUX_PARTITION = 0x83


@dataclass(frozen=True)
class Release:
    codename: str
    python: str  # major.minor of the release's python3: the bundle's wheels must match it
    first_boot: FirstBootFormat


RELEASES = {
    "bookworm": Release("bookworm", "3.11", "firstrun"),
    "trixie": Release("trixie", "3.13", "cloud-init"),
}
# Multiarch library directories on the root partition -> the bundle's `--arch`.
ARCH_DIRS = {"aarch64-linux-gnu": "aarch64", "arm-linux-gnueabihf": "armv7l"}


@dataclass(frozen=True)
class ImageSystem:
    release: Release
    arch: str | None  # None when the root partition was not read (`--release` given)


def release_named(codename: str) -> Release:
    try:
        return RELEASES[codename]
    except KeyError:
        raise ImageError(
            f"--release {codename!r}: edgefleet flash supports {', '.join(RELEASES)}"
        ) from None


def read_system(image: Path) -> ImageSystem:
    """The release and CPU architecture of the Raspberry Pi OS in `image`."""
    root = _root_partition(image)
    os_release = _debugfs(image, root, "cat /usr/lib/os-release") or _debugfs(
        image, root, "cat /etc/os-release"
    )
    fields = dict(
        line.split("=", 1) for line in os_release.splitlines() if "=" in line and line[0] != "#"
    )
    codename = fields.get("VERSION_CODENAME", "").strip().strip('"')
    if not codename:
        raise ImageError(
            f"{image}: no os-release on root partition {root.index} (not an ext4 Raspberry Pi "
            f"OS root file system?); pass --release {'|'.join(RELEASES)}"
        )
    if codename not in RELEASES:
        raise ImageError(
            f"{image}: Raspberry Pi OS '{codename}' is not supported; edgefleet flash supports "
            f"{', '.join(RELEASES)} images"
        )
    listing = _debugfs(image, root, "ls -p /usr/lib")
    names = {entry.split("/")[5] for entry in listing.splitlines() if entry.count("/") >= 6}
    arch = next((a for d, a in ARCH_DIRS.items() if d in names), None)
    return ImageSystem(RELEASES[codename], arch)


def _root_partition(image: Path) -> Partition:
    linux = [p for p in read_partitions(image) if p.type_id == LINUX_PARTITION]
    if not linux:
        raise ImageError(
            f"{image}: no Linux root partition; pass --release {'|'.join(RELEASES)} "
            "if this is a Raspberry Pi OS image"
        )
    return linux[0]


def _debugfs(image: Path, part: Partition, request: str) -> str:
    """stdout of a read-only debugfs request on the partition ('' when it found nothing)."""
    if shutil.which("debugfs") is None:
        raise ImageError(
            "debugfs not found (it reads the image's release): apt-get install e2fsprogs"
        )
    done = subprocess.run(
        ["debugfs", "-R", request, f"{image}?offset={part.offset}"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        check=False,
    )
    return done.stdout if done.returncode == 0 else ""
