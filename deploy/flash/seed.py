"""What a first boot needs, whichever way the release takes it (`cloudinit.py` for Trixie,
`firstrun.py` for Bookworm): the options, their checks, the agent config and the install step.

The agent is always installed from the bundle copied onto the boot partition: no package index
serves edgefleet, so a device without the bundle could never install it.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

HOSTNAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
SSH_KEY_RE = re.compile(r"(ssh-(rsa|ed25519|dss)|ecdsa-sha2-\S+|sk-\S+) [A-Za-z0-9+/=]+( .*)?")
BOOT_MOUNT = "/boot/firmware"  # where Bookworm and later mount the FAT boot partition
OLD_BOOT_MOUNT = "/boot"  # where older images (and some custom ones) mount it
BUNDLE_DIR = "edgefleet"  # on the boot partition
BUNDLE_NAME = "edgefleet-bundle.tar.gz"
CONFIG_PATH = "/etc/edgefleet/agent.yaml"
PREFIX = "/opt/edgefleet"


class SeedError(ValueError):
    """A flash option is invalid; the message names it."""


@dataclass
class FirstBoot:
    """Everything the seed needs; validated by `check()`."""

    hub_url: str
    token: str
    hostname: str | None = None
    models: list[str] = field(default_factory=lambda: ["face-detect-lite"])
    wifi_ssid: str | None = None
    wifi_psk: str | None = None
    wifi_country: str | None = None
    ssh_keys: list[str] = field(default_factory=list)
    user: str = "pi"
    instance_id: str = field(default_factory=lambda: f"edgefleet-{uuid.uuid4().hex}")

    def check(self) -> None:
        _check_reachable(self.hub_url)
        if self.hostname is not None and not HOSTNAME_RE.fullmatch(self.hostname):
            raise SeedError(
                f"--hostname {self.hostname!r}: use lower-case letters, digits and '-' "
                "(1-63 characters, not starting or ending with '-')"
            )
        if self.wifi_psk is not None and self.wifi_ssid is None:
            raise SeedError("--wifi-psk needs --wifi-ssid")
        if self.wifi_ssid is not None and not 1 <= len(self.wifi_ssid.encode()) <= 32:
            raise SeedError("--wifi-ssid must be 1-32 bytes")
        if self.wifi_psk is not None and not (
            8 <= len(self.wifi_psk) <= 63 or re.fullmatch(r"[0-9a-fA-F]{64}", self.wifi_psk)
        ):
            raise SeedError("--wifi-psk must be 8-63 characters (or 64 hex digits)")
        if self.wifi_country is not None and not re.fullmatch(r"[A-Z]{2}", self.wifi_country):
            raise SeedError("--wifi-country must be a two-letter country code such as GB or US")
        for key in self.ssh_keys:
            if not SSH_KEY_RE.fullmatch(key.strip()):
                raise SeedError(f"--ssh-key: not an OpenSSH public key: {key[:40]!r}...")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", self.user):
            raise SeedError(f"--user {self.user!r} is not a valid user name")


def agent_config(seed: FirstBoot) -> dict[str, Any]:
    """The agent config written at first boot: enough to enroll (docs/agent.md)."""
    config: dict[str, Any] = {}
    if seed.hostname:
        config["device_id"] = seed.hostname  # a valid host name is a valid device id
    config["models"] = list(seed.models)
    config["model_dir"] = f"{PREFIX}/models"
    config["hub"] = {"url": seed.hub_url, "enrollment_token": seed.token}
    return config


def install_command() -> str:
    """Shell: unpack the bundle from the boot partition and run its installer (enables the
    agent's unit). Works whether the boot partition is mounted at /boot/firmware (Bookworm and
    later) or /boot."""
    return (
        f'set -eu; BOOT={BOOT_MOUNT}; [ -d "$BOOT/{BUNDLE_DIR}" ] || BOOT={OLD_BOOT_MOUNT}; '
        f"mkdir -p {PREFIX}/bundle && "
        f'tar -xzf "$BOOT/{BUNDLE_DIR}/{BUNDLE_NAME}" -C {PREFIX}/bundle --strip-components=1 && '
        f"{PREFIX}/bundle/install.sh --prefix {PREFIX} --config {CONFIG_PATH} --enable"
    )


def _check_reachable(hub_url: str) -> None:
    """A device can never reach a hub at its own loopback address, nor at 0.0.0.0."""
    host = urlsplit(hub_url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
        unreachable = address.is_loopback or address.is_unspecified
    except ValueError:
        unreachable = host == "localhost" or host.endswith(".localhost")
    if unreachable:
        raise SeedError(
            f"--hub {hub_url}: {host} would be the device's own address, not the hub's; give "
            "the hub's address on the device's network (e.g. http://192.168.1.10:8000 or "
            "https://hub.example.com)"
        )
