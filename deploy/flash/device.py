"""Writing an image to an SD card: refuse anything mounted or holding the running system."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from deploy.flash.image import ImageError

CHUNK = 4 << 20


def _disk_of(name: str) -> str:
    """`sda1` -> `sda`, `mmcblk0p2` -> `mmcblk0` (via sysfs); a whole disk maps to itself."""
    sys_path = Path("/sys/class/block") / name
    if (sys_path / "partition").exists():
        return sys_path.resolve().parent.name
    return name


def _mounted_sources() -> dict[str, str]:
    """Block device name -> mount point, from /proc/mounts and /proc/swaps."""
    out: dict[str, str] = {}
    for table, col in (("/proc/mounts", 1), ("/proc/swaps", None)):
        try:
            lines = Path(table).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields and fields[0].startswith("/dev/"):
                dev = os.path.realpath(fields[0])
                out[Path(dev).name] = fields[col] if col is not None else "[swap]"
    return out


def check_target(device: Path) -> str:
    """Raise ImageError unless `device` is a whole, unmounted, non-system block device;
    returns a description for the confirmation prompt."""
    try:
        mode = device.stat().st_mode
    except OSError as exc:
        raise ImageError(f"{device}: {exc.strerror}") from None
    if not stat.S_ISBLK(mode):
        raise ImageError(f"{device} is not a block device (expected a card such as /dev/sdX)")
    name = Path(os.path.realpath(device)).name
    if _disk_of(name) != name:
        raise ImageError(f"{device} is a partition; give the whole card ({_disk_of(name)})")
    mounted = _mounted_sources()
    system = {
        _disk_of(dev)
        for dev, where in mounted.items()
        if where in {"/", "/boot", "/boot/efi", "/usr", "/var", "[swap]"}
    }
    if name in system:
        raise ImageError(f"{device} holds the running system; refusing to overwrite it")
    busy = sorted(f"/dev/{d} on {w}" for d, w in mounted.items() if _disk_of(d) == name)
    if busy:
        raise ImageError(f"{device} is mounted ({', '.join(busy)}); unmount it first")
    sysfs = Path("/sys/class/block") / name
    size = int((sysfs / "size").read_text()) * 512 if (sysfs / "size").exists() else 0
    model = (
        (sysfs / "device" / "model").read_text().strip()
        if (sysfs / "device" / "model").exists()
        else "?"
    )
    removable = (
        (sysfs / "removable").read_text().strip() == "1"
        if (sysfs / "removable").exists()
        else False
    )
    return (
        f"{device}: {model}, {size / 1e9:.1f} GB, {'removable' if removable else 'NOT removable'}"
    )


def write_image(image: Path, device: Path, progress: Callable[[int], None] | None = None) -> None:
    """Copy `image` onto `device` block by block, then flush it to the card."""
    size = image.stat().st_size
    with image.open("rb") as src, device.open("r+b", buffering=0) as dst:
        done = 0
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            done += len(chunk)
            if progress:
                progress(len(chunk))
        os.fsync(dst.fileno())
    if done != size:
        raise ImageError(f"wrote {done} of {size} bytes to {device}")
