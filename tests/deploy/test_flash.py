"""`edgefleet flash` on synthetic disk images built with sfdisk, mkfs.vfat, mkfs.ext4 and mtools.

Each image has an MBR with a FAT32 boot partition (`cmdline.txt` as Pi OS ships it) and an ext4
root partition holding the release's `os-release` and multiarch directory, laid out as
Raspberry Pi OS Bookworm or Trixie images are; the written files are read back with mtools
(`mdir`, `mtype`).
"""

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.flash.image import boot_partition, read_partitions
from tests.fixtures.bundles import bundle_bytes
from tests.fixtures.requires import require_tools


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tools("sfdisk", "mkfs.vfat", "mkfs.ext4", "debugfs", "mcopy", "mtype", "mdir")


EDGEFLEET = [sys.executable, "-c", "from edgefleet.cli import main; main()"]
TOKEN = "eft_" + "Tk0-_" * 8 + "abc"
HUB = "http://hub.example.test:8000"
MIB = 1 << 20
ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles\n"
)
PYTHON = {"bookworm": "3.11", "trixie": "3.13"}
VERSION_ID = {"bookworm": "12", "trixie": "13"}


def make_image(
    path: Path,
    *,
    release: str | None = "trixie",
    arch_dir: str = "aarch64-linux-gnu",
    boot_mib: int = 40,
    fat: bool = True,
    root_mib: int = 8,
) -> Path:
    """MBR: partition 1 FAT32 (type c) from sector 2048, partition 2 Linux (type 83), ext4
    with `/usr/lib/os-release` of `release` (unformatted when `release` is None)."""
    start = 2048
    boot_sectors = boot_mib * MIB // 512
    total = start * 512 + boot_mib * MIB + root_mib * MIB
    with path.open("wb") as f:
        f.truncate(total)
    table = (
        f"label: dos\n{start},{boot_sectors},{'c' if fat else '83'}\n{start + boot_sectors},,83\n"
    )
    subprocess.run(["sfdisk", "-q", str(path)], input=table.encode(), check=True, env=ENV)
    if fat:
        fat_args = ["-F", "32", "-s", "1"] if boot_mib >= 33 else ["-F", "12"]
        subprocess.run(
            ["mkfs.vfat", *fat_args, "-n", "bootfs", "--offset", str(start), str(path),
             str(boot_mib * 1024)],
            check=True, capture_output=True,
        )  # fmt: skip
        cmdline = path.parent / f"{path.name}.cmdline.txt"
        cmdline.write_text(CMDLINE)
        subprocess.run(
            ["mcopy", "-i", f"{path}@@{start * 512}", str(cmdline), "::/cmdline.txt"],
            check=True, env=ENV,
        )  # fmt: skip
    if release is not None:
        root = path.parent / f"{path.name}.root"
        (root / "usr/lib" / arch_dir).mkdir(parents=True)
        (root / "etc").mkdir()
        (root / "usr/lib/os-release").write_text(
            f'PRETTY_NAME="Debian GNU/Linux {VERSION_ID[release]} ({release})"\n'
            f"VERSION_ID={VERSION_ID[release]}\nVERSION_CODENAME={release}\nID=debian\n"
        )
        (root / "etc/os-release").symlink_to("../usr/lib/os-release")
        offset = start * 512 + boot_mib * MIB
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-d", str(root), "-E", f"offset={offset}", str(path),
             f"{root_mib * 1024}k"],
            check=True, capture_output=True,
        )  # fmt: skip
    return path


def make_bundle(
    path: Path, *, arch: str = "aarch64", python: str = "3.13", payload: int = 200_000
) -> Path:
    """A bundle tarball as `edgefleet bundle` lays it out (here one file of `payload` random
    bytes beside the manifest)."""
    path.write_bytes(bundle_bytes(arch=arch, python=python, payload=payload))
    return path


def mtype(image: Path, name: str) -> str:
    return mtype_bytes(image, name).decode()


def mtype_bytes(image: Path, name: str) -> bytes:
    part = boot_partition(image)
    done = subprocess.run(
        ["mtype", "-i", f"{image}@@{part.offset}", f"::/{name}"],
        capture_output=True, check=True, env=ENV,
    )  # fmt: skip
    return done.stdout


def mdir(image: Path, directory: str = "/") -> str:
    part = boot_partition(image)
    done = subprocess.run(
        ["mdir", "-i", f"{image}@@{part.offset}", f"::{directory}"],
        capture_output=True, check=True, env=ENV,
    )  # fmt: skip
    return done.stdout.decode()


def flash(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGEFLEET, "flash", *args], capture_output=True, text=True, timeout=60, env=ENV
    )


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "edgefleet-bundle.tar.gz")


def test_partition_table_is_parsed(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    parts = read_partitions(image)
    assert [(p.index, p.type_id) for p in parts] == [(1, 0x0C), (2, 0x83)]
    assert boot_partition(image).offset == 2048 * 512


def test_trixie_image_gets_the_cloud_init_seed(tmp_path: Path, bundle: Path) -> None:
    image = make_image(tmp_path / "pi.img", release="trixie")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2x1 admin@laptop"
    done = flash(
        "--image", str(image), "--hub", HUB, "--token", TOKEN, "--hostname", "cam-kitchen-01",
        "--wifi-ssid", "Home Net", "--wifi-psk", "correct horse", "--wifi-country", "GB",
        "--ssh-key", key, "--bundle", str(bundle),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Raspberry Pi OS trixie" in done.stdout
    listing = mdir(image)
    for name in ("user-data", "network-config", "meta-data"):
        assert name in listing, listing
    assert "firstrun" not in listing
    assert mtype(image, "cmdline.txt") == CMDLINE  # cloud-init needs no kernel argument

    user_data = mtype(image, "user-data")
    assert user_data.startswith("#cloud-config\n")
    cloud = yaml.safe_load(user_data)
    assert cloud["hostname"] == "cam-kitchen-01"
    assert cloud["users"][0]["ssh_authorized_keys"] == [key]
    assert cloud["ssh_pwauth"] is False
    (config_file,) = cloud["write_files"]
    assert config_file["path"] == "/etc/edgefleet/agent.yaml"
    assert config_file["permissions"] == "0600"
    agent = yaml.safe_load(config_file["content"])
    assert agent["hub"] == {"url": HUB, "enrollment_token": TOKEN}
    assert agent["device_id"] == "cam-kitchen-01"
    install = " ".join(cloud["runcmd"][0])
    assert "install.sh" in install
    assert "--enable" in install
    assert "eft_REDACTED" in " ".join(cloud["runcmd"][-1])

    network = yaml.safe_load(mtype(image, "network-config"))["network"]
    assert network["version"] == 2
    wlan = network["wifis"]["wlan0"]
    assert wlan["access-points"] == {"Home Net": {"password": "correct horse"}}
    assert wlan["regulatory-domain"] == "GB"

    meta = yaml.safe_load(mtype(image, "meta-data"))
    assert meta["instance-id"].startswith("edgefleet-")
    assert meta["local-hostname"] == "cam-kitchen-01"

    # the token is in user-data (once, in the agent config) and nowhere else
    assert user_data.count(TOKEN) == 1
    assert TOKEN not in mtype(image, "network-config") + mtype(image, "meta-data")
    assert "correct horse" not in user_data
    raw = image.read_bytes()
    assert raw.count(TOKEN.encode()) == 1

    assert "edgefleet-bundle.tar.gz" in mdir(image, "/edgefleet")
    assert mtype_bytes(image, "edgefleet/edgefleet-bundle.tar.gz") == bundle.read_bytes()


def test_instance_id_is_unique_per_flash(tmp_path: Path, bundle: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    ids = []
    for _ in range(2):
        done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle))
        assert done.returncode == 0, done.stderr
        ids.append(yaml.safe_load(mtype(image, "meta-data"))["instance-id"])
    other = make_image(tmp_path / "other.img")
    done = flash("--image", str(other), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle))
    assert done.returncode == 0, done.stderr
    ids.append(yaml.safe_load(mtype(other, "meta-data"))["instance-id"])
    assert len(set(ids)) == 3
    # re-flashing replaced the files rather than adding copies
    assert mdir(image).count("user-data") == 1
    assert "network-config" in mdir(image)
    assert "wifis" not in mtype(image, "network-config")


def test_image_without_fat_partition(tmp_path: Path, bundle: Path) -> None:
    image = make_image(tmp_path / "nofat.img", fat=False)
    done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle))
    assert done.returncode == 1
    assert "no FAT boot partition" in done.stderr

    blank = tmp_path / "blank.img"
    blank.write_bytes(b"\0" * MIB)
    done = flash("--image", str(blank), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle))
    assert done.returncode == 1
    assert "no partition table" in done.stderr


def test_full_boot_partition(tmp_path: Path) -> None:
    image = make_image(tmp_path / "small.img", boot_mib=2)
    bundle = make_bundle(tmp_path / "bundle.tar.gz", payload=3 * MIB)
    done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle))
    assert done.returncode == 1
    assert "boot partition is full" in done.stderr
    assert "user-data" not in mdir(image)  # nothing half-written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "not-a-token"], "is not an enrollment token"),
        (["--token", TOKEN, "--hostname", "Bad_Host"], "--hostname"),
        (["--token", TOKEN, "--wifi-psk", "secret123"], "--wifi-psk needs --wifi-ssid"),
        (["--token", TOKEN, "--wifi-ssid", "x", "--wifi-psk", "short"], "8-63"),
        (["--token", TOKEN, "--ssh-key", "ssh-nope"], "--ssh-key"),
    ],
)
def test_bad_options_are_refused_before_writing(
    tmp_path: Path, bundle: Path, args: list[str], message: str
) -> None:
    image = make_image(tmp_path / "pi.img")
    done = flash("--image", str(image), "--hub", HUB, "--bundle", str(bundle), *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "user-data" not in mdir(image)


def test_device_must_be_a_block_device(tmp_path: Path, bundle: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    fake = tmp_path / "sdz"
    fake.write_bytes(b"")
    done = flash(
        "--image", str(image), "--hub", HUB, "--token", TOKEN, "--device", str(fake), "--yes",
        "--bundle", str(bundle),
    )  # fmt: skip
    assert done.returncode == 1
    assert "is not a block device" in done.stderr


def test_system_disk_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk holding `/` is refused. In a container whose `/` is an overlay, a block device
    node made here (root may mknod; `check_target` only stats it) is declared mounted on `/`
    instead: the mount table is the input."""
    from deploy.flash import device as flash_device
    from deploy.flash.image import ImageError

    root = {d for d, where in flash_device._mounted_sources().items() if where == "/"}
    if root:
        target = Path("/dev") / flash_device._disk_of(next(iter(root)))
    else:
        target = tmp_path / "edgefleet-card"
        os.mknod(target, stat.S_IFBLK | 0o600, os.makedev(7, 250))  # a loop device number
        monkeypatch.setattr(flash_device, "_mounted_sources", lambda: {target.name: "/"})
    with pytest.raises(ImageError, match="holds the running system"):
        flash_device.check_target(target)


def _decoded_writes(script: str) -> dict[str, str]:
    """firstrun.sh writes files as `echo BASE64 | base64 -d > PATH`: path -> content."""
    found = {}
    for line in script.splitlines():
        if "| base64 -d >" in line:
            encoded = line.split("echo ", 1)[1].split(" ", 1)[0]
            path = line.split("base64 -d > ", 1)[1].split(")", 1)[0]
            found[path] = base64.b64decode(encoded).decode()
    return found


def test_bookworm_image_gets_firstrun_and_the_kernel_argument(tmp_path: Path) -> None:
    """Bookworm has no cloud-init: Imager's way, a script run once by `systemd.run=`."""
    image = make_image(tmp_path / "pi.img", release="bookworm")
    bundle = make_bundle(tmp_path / "b.tar.gz", python="3.11")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2x1 admin@laptop"
    args = ["--image", str(image), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle),
            "--hostname", "cam-hall-02", "--wifi-ssid", "Caf\u00e9; 2G", "--wifi-psk",
            "correct horse", "--wifi-country", "DE", "--ssh-key", key]  # fmt: skip
    for _ in range(2):  # a re-flash replaces the kernel argument, never adds a second one
        done = flash(*args)
        assert done.returncode == 0, done.stderr
    assert "Raspberry Pi OS bookworm" in done.stdout
    listing = mdir(image)
    assert "firstrun" in listing
    assert "user-data" not in listing

    cmdline = mtype(image, "cmdline.txt")
    assert cmdline.count("\n") == 1  # one line, as the kernel reads it
    assert cmdline.endswith("\n")
    assert cmdline.startswith(CMDLINE.strip() + " ")  # Pi OS's own arguments kept, in order
    assert cmdline.count("systemd.run=") == 1
    assert "systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot" in cmdline
    assert "systemd.unit=kernel-command-line.target" in cmdline

    script = mtype(image, "firstrun.sh")
    assert script.startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # parses
    assert "trap finish EXIT" in script  # deletes itself and its kernel argument, always
    writes = _decoded_writes(script)
    agent = yaml.safe_load(writes["/etc/edgefleet/agent.yaml"])
    assert agent["hub"] == {"url": HUB, "enrollment_token": TOKEN}
    assert agent["device_id"] == "cam-hall-02"
    assert writes["/home/pi/.ssh/authorized_keys"] == key + "\n"
    wifi = writes["/etc/NetworkManager/system-connections/edgefleet-wifi.nmconnection"]
    ssid_bytes = bytes(int(b) for b in wifi.split("ssid=", 1)[1].split("\n")[0].split(";") if b)
    assert ssid_bytes.decode() == "Caf\u00e9; 2G"
    assert "psk=correct horse\n" in wifi
    assert "do_wifi_country DE" in script
    assert "echo cam-hall-02 > /etc/hostname" in script
    assert "install.sh --prefix /opt/edgefleet --config /etc/edgefleet/agent.yaml --enable" in (
        script
    )
    assert "edgefleet-bundle.tar.gz" in mdir(image, "/edgefleet")


@pytest.mark.parametrize(
    ("release", "arch_dir", "bundle_arch", "python", "wanted"),
    [
        ("trixie", "aarch64-linux-gnu", "aarch64", "3.11", "--arch aarch64 --python 3.13"),
        ("bookworm", "aarch64-linux-gnu", "aarch64", "3.13", "--arch aarch64 --python 3.11"),
        ("bookworm", "arm-linux-gnueabihf", "aarch64", "3.11", "--arch armv7l --python 3.11"),
    ],
)
def test_a_bundle_that_does_not_suit_the_image_is_refused(
    tmp_path: Path, release: str, arch_dir: str, bundle_arch: str, python: str, wanted: str
) -> None:
    """install.sh would refuse it at first boot, where nobody sees it: flash says so now."""
    image = make_image(tmp_path / "pi.img", release=release, arch_dir=arch_dir)
    bundle = make_bundle(tmp_path / "b.tar.gz", arch=bundle_arch, python=python)
    done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle))
    assert done.returncode == 1
    assert f"`edgefleet bundle {wanted}`" in done.stderr, done.stderr
    assert "firstrun" not in mdir(image)
    assert "user-data" not in mdir(image)


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(1000))
    done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN, "--bundle", str(junk))
    assert done.returncode == 1
    assert "not a bundle" in done.stderr


def test_without_a_bundle_nothing_is_written(tmp_path: Path) -> None:
    """No package index serves edgefleet: a card without the bundle would never install it."""
    image = make_image(tmp_path / "pi.img")
    done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN)
    assert done.returncode != 0
    assert "--bundle" in done.stderr
    assert "user-data" not in mdir(image)


@pytest.mark.parametrize(
    "hub",
    ["http://127.0.0.1:8000", "http://localhost:8000", "https://[::1]:8443", "http://0.0.0.0:8000"],
)
def test_a_hub_on_the_devices_own_loopback_is_refused(
    tmp_path: Path, bundle: Path, hub: str
) -> None:
    image = make_image(tmp_path / "pi.img")
    done = flash("--image", str(image), "--hub", hub, "--token", TOKEN, "--bundle", str(bundle))
    assert done.returncode == 1
    assert "the device's own address" in done.stderr
    assert "user-data" not in mdir(image)


def test_the_release_is_named_when_the_root_cannot_be_read(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img", release=None)
    bundle = make_bundle(tmp_path / "b.tar.gz", python="3.11")
    base = ["--image", str(image), "--hub", HUB, "--token", TOKEN, "--bundle", str(bundle)]
    done = flash(*base)
    assert done.returncode == 1
    assert "--release bookworm|trixie" in done.stderr
    assert flash(*base, "--release", "bullseye").returncode == 1
    done = flash(*base, "--release", "bookworm")
    assert done.returncode == 0, done.stderr
    assert "firstrun" in mdir(image)
