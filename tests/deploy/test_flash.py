"""`edgefleet flash` on synthetic disk images built here with sfdisk, mkfs.vfat and mtools.

Each image has an MBR with a FAT32 boot partition and a Linux partition, as Raspberry Pi OS
images do; the written files are read back with mtools (`mdir`, `mtype`).
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.flash.image import boot_partition, read_partitions
from tests.fixtures.requires import require_tools


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tools("sfdisk", "mkfs.vfat", "mcopy", "mtype", "mdir")


EDGEFLEET = [sys.executable, "-c", "from edgefleet.cli import main; main()"]
TOKEN = "eft_" + "Tk0-_" * 8 + "abc"
HUB = "http://hub.example.test:8000"
MIB = 1 << 20
ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def make_image(path: Path, *, boot_mib: int = 40, fat: bool = True, root_mib: int = 8) -> Path:
    """MBR: partition 1 FAT32 (type c) from sector 2048, partition 2 Linux (type 83)."""
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


def test_partition_table_is_parsed(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    parts = read_partitions(image)
    assert [(p.index, p.type_id) for p in parts] == [(1, 0x0C), (2, 0x83)]
    assert boot_partition(image).offset == 2048 * 512


def test_flash_writes_cloud_init_seed(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    bundle = tmp_path / "edgefleet-bundle.tar.gz"
    bundle.write_bytes(os.urandom(300_000))
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2x1 admin@laptop"
    done = flash(
        "--image", str(image), "--hub", HUB, "--token", TOKEN, "--hostname", "cam-kitchen-01",
        "--wifi-ssid", "Home Net", "--wifi-psk", "correct horse", "--wifi-country", "GB",
        "--ssh-key", key, "--bundle", str(bundle),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listing = mdir(image)
    for name in ("user-data", "network-config", "meta-data"):
        assert name in listing, listing

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


def test_instance_id_is_unique_per_flash(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    ids = []
    for _ in range(2):
        done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN)
        assert done.returncode == 0, done.stderr
        ids.append(yaml.safe_load(mtype(image, "meta-data"))["instance-id"])
    other = make_image(tmp_path / "other.img")
    assert flash("--image", str(other), "--hub", HUB, "--token", TOKEN).returncode == 0
    ids.append(yaml.safe_load(mtype(other, "meta-data"))["instance-id"])
    assert len(set(ids)) == 3
    # re-flashing replaced the files rather than adding copies
    assert mdir(image).count("user-data") == 1
    assert "network-config" in mdir(image)
    assert "wifis" not in mtype(image, "network-config")


def test_image_without_fat_partition(tmp_path: Path) -> None:
    image = make_image(tmp_path / "nofat.img", fat=False)
    done = flash("--image", str(image), "--hub", HUB, "--token", TOKEN)
    assert done.returncode == 1
    assert "no FAT boot partition" in done.stderr

    blank = tmp_path / "blank.img"
    blank.write_bytes(b"\0" * MIB)
    done = flash("--image", str(blank), "--hub", HUB, "--token", TOKEN)
    assert done.returncode == 1
    assert "no partition table" in done.stderr


def test_full_boot_partition(tmp_path: Path) -> None:
    image = make_image(tmp_path / "small.img", boot_mib=2)
    bundle = tmp_path / "bundle.tar.gz"
    bundle.write_bytes(os.urandom(3 * MIB))
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
    tmp_path: Path, args: list[str], message: str
) -> None:
    image = make_image(tmp_path / "pi.img")
    done = flash("--image", str(image), "--hub", HUB, *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "user-data" not in mdir(image)


def test_device_must_be_a_block_device(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img")
    fake = tmp_path / "sdz"
    fake.write_bytes(b"")
    done = flash(
        "--image", str(image), "--hub", HUB, "--token", TOKEN, "--device", str(fake), "--yes"
    )
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
