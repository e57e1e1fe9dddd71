"""An arm64 Raspberry Pi OS (Bookworm) user space for qemu-user, without binfmt_misc or root
file systems mounted: debootstrap's first stage (`--foreign`: download and unpack only, no
arm64 code runs) plus the Python 3.11 packages unpacked with `dpkg-deb -x`, cached under
var/cache/arm64-bookworm. Programs run as `qemu-aarch64-static -L ROOT ROOT/usr/bin/...`: qemu
looks up absolute paths under ROOT first.

One thing is not as on a Pi: qemu-user shows arm64 programs the host's /proc/cpuinfo (an x86
one), which the cpuinfo library inside LiteRT/XNNPACK cannot parse (it crashes in
`allocate_tensors`). ROOT/proc/cpuinfo and ROOT/sys/devices/system/cpu/* hold a Raspberry Pi
4's (4 x Cortex-A72) instead, found first through `-L`, and qemu emulates that CPU."""

import shutil
import subprocess
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[2] / "var" / "cache" / "arm64-bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib")
QEMU = "qemu-aarch64-static"
PI4_CORES = 4
PI4_CPU = "cortex-a72"


def pi4_cpuinfo() -> str:
    core = (
        "BogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n"
    )
    cores = "".join(f"processor\t: {i}\n{core}\n" for i in range(PI4_CORES))
    return cores + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n"


def arm64_root() -> Path:
    """The cached user space, made on first use (about 20 s and 60 MB of downloads)."""
    ready = ROOT_DIR / ".complete"
    if ready.exists():
        return ROOT_DIR
    shutil.rmtree(ROOT_DIR, ignore_errors=True)
    ROOT_DIR.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase",
         f"--include={','.join(PACKAGES)}", "bookworm", str(ROOT_DIR), MIRROR],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    for deb in sorted((ROOT_DIR / "var" / "cache" / "apt" / "archives").glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(ROOT_DIR)], check=True, timeout=120)
    (ROOT_DIR / "proc").mkdir(exist_ok=True)
    (ROOT_DIR / "proc" / "cpuinfo").write_text(pi4_cpuinfo())
    cpus = ROOT_DIR / "sys" / "devices" / "system" / "cpu"
    cpus.mkdir(parents=True, exist_ok=True)
    for name in ("possible", "present", "online"):
        (cpus / name).write_text(f"0-{PI4_CORES - 1}\n")
    ready.touch()
    return ROOT_DIR


def arm64_python(root: Path) -> list[str]:
    """The command prefix that runs the user space's Python 3.11 under qemu-user, on a
    Raspberry Pi 4's CPU (Cortex-A72). qemu's default CPU (`max`, every arm64 extension) is no
    Pi's, and with it the int8 wake-word models answer wrongly (okay_nabu 0.0 instead of 0.986
    for the same features; right on `cortex-a72` and the Pi 5's `cortex-a76`)."""
    return [QEMU, "-cpu", PI4_CPU, "-L", str(root), str(root / "usr" / "bin" / "python3.11")]
