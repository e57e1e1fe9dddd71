"""Disk images without root: the MBR parsed in Python, the FAT boot partition through mtools.

mtools addresses a partition inside an image as `IMAGE@@OFFSET` (bytes), so nothing is mounted
and no loop device is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512
FAT_TYPES = {
    0x01: "FAT12",
    0x04: "FAT16",
    0x06: "FAT16",
    0x0B: "FAT32",
    0x0C: "FAT32 (LBA)",
    0x0E: "FAT16 (LBA)",
    0xEF: "EFI system",
}
MTOOLS = ("mcopy", "mdir", "mtype", "mmd", "minfo")


class ImageError(Exception):
    """The image cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Partition:
    index: int  # 1-based, as in /dev/sdX1
    type_id: int
    start_lba: int
    sectors: int
    bootable: bool

    @property
    def offset(self) -> int:
        return self.start_lba * SECTOR

    @property
    def size(self) -> int:
        return self.sectors * SECTOR

    @property
    def is_fat(self) -> bool:
        return self.type_id in FAT_TYPES


def read_partitions(path: Path) -> list[Partition]:
    """The primary partitions of an MBR-partitioned image or disk."""
    try:
        with path.open("rb") as f:
            mbr = f.read(SECTOR)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror}") from None
    if len(mbr) < SECTOR or mbr[510:512] != b"\x55\xaa":
        raise ImageError(f"{path}: no partition table (no MBR signature): not a disk image")
    parts = []
    for i in range(4):
        entry = mbr[446 + 16 * i : 446 + 16 * (i + 1)]
        status, type_id = entry[0], entry[4]
        start, sectors = struct.unpack_from("<II", entry, 8)
        if type_id == 0 or sectors == 0:
            continue
        if type_id == 0xEE:
            raise ImageError(f"{path}: GPT-partitioned image; Raspberry Pi OS images use MBR")
        parts.append(Partition(i + 1, type_id, start, sectors, status == 0x80))
    return parts


def boot_partition(path: Path) -> Partition:
    """The first FAT partition whose boot sector really is FAT (Raspberry Pi OS: `bootfs`)."""
    parts = read_partitions(path)
    image_size = path.stat().st_size if path.is_file() else None
    for part in parts:
        if not part.is_fat:
            continue
        if image_size is not None and part.offset + part.size > image_size:
            raise ImageError(
                f"{path}: partition {part.index} ends beyond the end of the image "
                "(truncated download?)"
            )
        with path.open("rb") as f:
            f.seek(part.offset)
            sector = f.read(SECTOR)
        if sector[510:512] == b"\x55\xaa" and (b"FAT" in sector[54:62] or b"FAT" in sector[82:90]):
            return part
    found = ", ".join(f"{p.index}: type 0x{p.type_id:02x}" for p in parts) or "none"
    raise ImageError(
        f"{path}: no FAT boot partition (partitions: {found}); is this a Raspberry Pi OS image?"
    )


def require_mtools() -> None:
    missing = [tool for tool in MTOOLS if shutil.which(tool) is None]
    if missing:
        raise ImageError(f"mtools not found ({', '.join(missing)}): apt-get install mtools")


class FatPartition:
    """A FAT file system at `offset` inside `image`, read and written with mtools."""

    def __init__(self, image: Path, partition: Partition) -> None:
        require_mtools()
        self.image = image
        self.partition = partition
        self.spec = f"{image}@@{partition.offset}"

    def _run(self, args: Sequence[str], *, input_bytes: bytes | None = None) -> bytes:
        env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0"}
        done = subprocess.run(
            list(args), input=input_bytes, capture_output=True, env=env, timeout=600, check=False
        )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            if "full" in message.lower() or "no space" in message.lower():
                raise ImageError(f"{self.image}: the boot partition is full: {message}")
            raise ImageError(f"{args[0]} failed on {self.spec}: {message}")
        return done.stdout

    def free_bytes(self) -> int:
        out = self._run(["mdir", "-i", self.spec, "::/"]).decode(errors="replace")
        found = re.search(r"([\d ]+) bytes free", out)
        if not found:
            raise ImageError(f"cannot read the free space of {self.spec}: {out[-200:]}")
        return int(found.group(1).replace(" ", ""))

    def list(self, directory: str = "/") -> list[str]:
        out = self._run(["mdir", "-b", "-i", self.spec, f"::{directory}"]).decode()
        return [line.strip().removeprefix("::") for line in out.splitlines() if line.strip()]

    def read(self, name: str) -> bytes:
        return self._run(["mtype", "-i", self.spec, f"::/{name.lstrip('/')}"])

    def mkdir(self, name: str) -> None:
        if name.strip("/") not in {p.strip("/") for p in self.list("/")}:
            self._run(["mmd", "-i", self.spec, f"::/{name.strip('/')}"])

    def write(self, name: str, source: Path) -> None:
        """Copy `source` to `::/name`, replacing an existing file."""
        self._run(["mcopy", "-o", "-i", self.spec, str(source), f"::/{name.lstrip('/')}"])
