"""`edgefleet flash --image raspios.img --hub URL --token T ...`: first-boot set-up, no root.

Writes `user-data`, `network-config` and `meta-data` (cloud-init NoCloud) into the image's FAT
boot partition with mtools (`IMAGE@@OFFSET`, the partition table parsed in Python), plus the
agent bundle when `--bundle` is given. First boot then installs the bundle, enrolls with the
token and enables `edgefleet-agent`. `--device /dev/sdX` writes the image to a card first
(after an explicit confirmation) and then sets up the card, leaving the image untouched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from deploy.flash.cloudinit import (
    BUNDLE_DIR,
    BUNDLE_NAME,
    FirstBoot,
    SeedError,
    meta_data,
    network_config,
    user_data,
)
from deploy.flash.image import FatPartition, ImageError, boot_partition

app = typer.Typer(add_completion=False, help="Write first-boot set-up into a Pi OS image.")

SEED_FILES = ("user-data", "network-config", "meta-data")
SLACK = 64 * 1024  # FAT cluster rounding and directory entries


def flash_image(target: Path, seed: FirstBoot, bundle: Path | None = None) -> dict[str, str]:
    """Write the seed (and bundle) into `target`'s boot partition; returns the seed texts."""
    part = boot_partition(target)
    fat = FatPartition(target, part)
    texts = {
        "user-data": user_data(seed),
        "network-config": network_config(seed),
        "meta-data": meta_data(seed),
    }
    need = sum(len(t.encode()) for t in texts.values()) + SLACK
    if bundle is not None:
        need += bundle.stat().st_size
    free = fat.free_bytes()
    existing = {name.lower() for name in fat.list("/")}
    if need > free + sum(len(fat.read(n)) for n in SEED_FILES if n in existing):
        raise ImageError(
            f"{target}: the boot partition is full: {need / 1e6:.1f} MB needed, "
            f"{free / 1e6:.1f} MB free"
            + (" (the bundle is copied there; is it the right file?)" if bundle else "")
        )
    with tempfile.TemporaryDirectory(prefix="edgefleet-flash-") as tmp:
        for name, text in texts.items():
            path = Path(tmp) / name
            path.write_text(text)
            fat.write(name, path)
    if bundle is not None:
        fat.mkdir(BUNDLE_DIR)
        fat.write(f"{BUNDLE_DIR}/{BUNDLE_NAME}", bundle)
    return texts


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
    bundle: Annotated[
        Path | None, typer.Option(help="Agent bundle .tar.gz (edgefleet bundle --arch aarch64)")
    ] = None,
    models: Annotated[list[str] | None, typer.Option("--models", help="Model ids")] = None,
    device: Annotated[
        Path | None, typer.Option(help="Write the image to this card first (/dev/sdX)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before overwriting --device")] = (
        False
    ),
) -> None:
    """Write cloud-init first-boot set-up (and the agent bundle) into the boot partition."""
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
        bundle=bundle is not None,
    )
    try:
        seed.hub_url = check_hub_url(hub)
        seed.token = check_token(token)
        seed.check()
        if bundle is not None and not bundle.is_file():
            raise ImageError(f"--bundle {bundle}: no such file")
        if not image.is_file():
            raise ImageError(f"--image {image}: no such file")
        boot_partition(image)  # fail before touching a card
        target = image
        if device is not None:
            target = _write_card(image, device, yes)
        flash_image(target, seed, bundle)
    except (ProvisionError, SeedError, ImageError) as exc:
        typer.echo(f"edgefleet flash: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{target}: first-boot set-up written (instance-id {seed.instance_id}); on first boot "
        f"the device installs the agent, enrolls at {seed.hub_url} and starts edgefleet-agent"
    )
    if bundle is None:
        typer.echo("note: no --bundle: first boot installs edgefleet from a package index")


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
