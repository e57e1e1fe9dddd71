"""`edgefleet flash --image IMG --hub URL --token T --bundle B ...`: first-boot set-up, no root.

Reads the image's release from its root partition (`release.py`), then writes the first-boot
files that release takes into the FAT boot partition with mtools (`IMAGE@@OFFSET`, the partition
table parsed in Python), and the agent bundle: cloud-init NoCloud files on Trixie, Raspberry Pi
Imager's `firstrun.sh` on Bookworm. First boot then installs the bundle, enrolls with the token
and enables `edgefleet-agent`. `--device /dev/sdX` writes the image to a card first (after an
explicit confirmation) and then sets up the card, leaving the image untouched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from deploy.bundle.manifest import ManifestError, read_target
from deploy.flash import cloudinit, firstrun
from deploy.flash.image import FatPartition, ImageError, boot_partition
from deploy.flash.release import RELEASES, ImageSystem, Release, read_system, release_named
from deploy.flash.seed import BUNDLE_DIR, BUNDLE_NAME, FirstBoot, SeedError

app = typer.Typer(add_completion=False, help="Write first-boot set-up into a Pi OS image.")

SLACK = 64 * 1024  # FAT cluster rounding and directory entries


def first_boot_files(fat: FatPartition, seed: FirstBoot, release: Release) -> dict[str, str]:
    """The files to write on the boot partition for `release`, by name."""
    if release.first_boot == "cloud-init":
        return cloudinit.seed_files(seed)
    cmdline = fat.read(firstrun.CMDLINE).decode(errors="replace")
    return {
        firstrun.SCRIPT: firstrun.firstrun_script(seed),
        firstrun.CMDLINE: firstrun.patched_cmdline(cmdline),
    }


def flash_image(target: Path, seed: FirstBoot, release: Release, bundle: Path) -> dict[str, str]:
    """Write the first-boot files and the bundle into `target`'s boot partition; returns the
    files' texts."""
    part = boot_partition(target)
    fat = FatPartition(target, part)
    existing = {name.strip("/").lower() for name in fat.list("/")}
    if release.first_boot == "firstrun" and firstrun.CMDLINE not in existing:
        raise ImageError(f"{target}: no cmdline.txt on the boot partition: not a Pi OS image?")
    texts = first_boot_files(fat, seed, release)
    need = sum(len(t.encode()) for t in texts.values()) + SLACK + bundle.stat().st_size
    free = fat.free_bytes()
    replaced = sum(len(fat.read(n)) for n in texts if n.lower() in existing)
    if need > free + replaced:
        raise ImageError(
            f"{target}: the boot partition is full: {need / 1e6:.1f} MB needed, "
            f"{free / 1e6:.1f} MB free (the bundle is copied there; is it the right file?)"
        )
    with tempfile.TemporaryDirectory(prefix="edgefleet-flash-") as tmp:
        for name, text in texts.items():
            path = Path(tmp) / name
            path.write_text(text)
            fat.write(name, path)
    fat.mkdir(BUNDLE_DIR)
    fat.write(f"{BUNDLE_DIR}/{BUNDLE_NAME}", bundle)
    return texts


def check_bundle(bundle: Path, system: ImageSystem) -> None:
    """The bundle's wheels must suit the image: its Python and (when read) its CPU."""
    if not bundle.is_file():
        raise ImageError(f"--bundle {bundle}: no such file")
    try:
        built = read_target(bundle)
    except ManifestError as exc:
        raise ImageError(f"--bundle {exc}") from None
    release = system.release
    arch = system.arch or built.arch
    if built.python != release.python or built.arch != arch:
        raise ImageError(
            f"--bundle {bundle.name} is for {built.arch} / Python {built.python}; this "
            f"{release.codename} image needs {arch} / Python {release.python}: build one with "
            f"`edgefleet bundle --arch {arch} --python {release.python}`"
        )


def _ssh_keys(values: list[str]) -> list[str]:
    keys = []
    for value in values:
        path = Path(value).expanduser()
        if not value.startswith(("ssh-", "ecdsa-", "sk-")) and path.is_file():
            keys += [ln for ln in path.read_text().splitlines() if ln.strip()]
        else:
            keys.append(value)
    return keys


@app.command()
def flash(
    image: Annotated[Path, typer.Option(help="Raspberry Pi OS image (.img), changed in place")],
    hub: Annotated[str, typer.Option(help="Hub base URL the device enrolls at")],
    token: Annotated[
        str,
        typer.Option(
            help="One-time enrollment token (eft_...)", envvar="EDGEFLEET_ENROLLMENT_TOKEN"
        ),
    ],
    bundle: Annotated[
        Path,
        typer.Option(help="Agent bundle .tar.gz (edgefleet bundle --arch aarch64 --python ...)"),
    ],
    hostname: Annotated[str | None, typer.Option(help="Host name, also the device id")] = None,
    wifi_ssid: Annotated[str | None, typer.Option("--wifi-ssid")] = None,
    wifi_psk: Annotated[str | None, typer.Option("--wifi-psk")] = None,
    wifi_country: Annotated[
        str | None, typer.Option("--wifi-country", help="Regulatory domain, e.g. GB")
    ] = None,
    ssh_key: Annotated[
        list[str] | None, typer.Option("--ssh-key", help="Public key or .pub file (repeatable)")
    ] = None,
    user: Annotated[str, typer.Option(help="Login user created with --ssh-key")] = "pi",
    models: Annotated[list[str] | None, typer.Option("--models", help="Model ids")] = None,
    release: Annotated[
        str | None,
        typer.Option(
            help=f"Pi OS release ({', '.join(RELEASES)}); read from the image when not given"
        ),
    ] = None,
    device: Annotated[
        Path | None, typer.Option(help="Write the image to this card first (/dev/sdX)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before overwriting --device")] = (
        False
    ),
) -> None:
    """Write first-boot set-up (and the agent bundle) into the image's boot partition."""
    from edge_agent.provision import ProvisionError, check_hub_url, check_token

    seed = FirstBoot(
        hub_url=hub,
        token=token,
        hostname=hostname,
        models=list(models or ["face-detect-lite"]),
        wifi_ssid=wifi_ssid,
        wifi_psk=wifi_psk,
        wifi_country=wifi_country,
        ssh_keys=_ssh_keys(ssh_key or []),
        user=user,
    )
    try:
        seed.hub_url = check_hub_url(hub)
        seed.token = check_token(token)
        seed.check()
        if not image.is_file():
            raise ImageError(f"--image {image}: no such file")
        boot_partition(image)  # fail before touching a card
        system = ImageSystem(release_named(release), None) if release else read_system(image)
        check_bundle(bundle, system)
        target = image
        if device is not None:
            target = _write_card(image, device, yes)
        flash_image(target, seed, system.release, bundle)
    except (ProvisionError, SeedError, ImageError) as exc:
        typer.echo(f"edgefleet flash: {exc}", err=True)
        raise typer.Exit(1) from None
    how = {"cloud-init": "cloud-init", "firstrun": "firstrun.sh"}[system.release.first_boot]
    typer.echo(
        f"{target}: Raspberry Pi OS {system.release.codename}: first-boot set-up written "
        f"({how}); on first boot the device installs the agent, enrolls at {seed.hub_url} and "
        "starts edgefleet-agent"
    )


def _write_card(image: Path, device: Path, yes: bool) -> Path:
    from deploy.flash.device import check_target, write_image

    described = check_target(device)
    if not yes:
        typer.echo(f"About to overwrite {described}\nwith {image}. EVERYTHING on it is lost.")
        answer = typer.prompt(f"Type the device path ({device}) to continue", default="")
        if answer.strip() != str(device):
            raise ImageError("not confirmed; nothing was written")
    with typer.progressbar(length=image.stat().st_size, label="writing image") as bar:
        write_image(image, device, bar.update)
    return device


__all__ = ["app", "flash_image"]
