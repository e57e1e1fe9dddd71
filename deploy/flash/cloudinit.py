"""The cloud-init NoCloud seed (`user-data`, `network-config`, `meta-data`) for a first boot that
installs the agent bundle, enrolls with a one-time token and enables the agent service.

Where each secret goes, and nowhere else:
- the enrollment token: only in `user-data`, inside the agent config written to
  `/etc/edgefleet/agent.yaml` (0600); the agent exchanges it for credentials at its first
  start and rewrites that file without it, and the last `runcmd` step blanks the token out of
  the copy of `user-data` left on the boot partition;
- the Wi-Fi passphrase: only in `network-config`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml

HOSTNAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
SSH_KEY_RE = re.compile(r"(ssh-(rsa|ed25519|dss)|ecdsa-sha2-\S+|sk-\S+) [A-Za-z0-9+/=]+( .*)?")
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
    bundle: bool = True  # a bundle is copied to the boot partition
    instance_id: str = field(default_factory=lambda: f"edgefleet-{uuid.uuid4().hex}")

    def check(self) -> None:
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


def _install_script(seed: FirstBoot) -> str:
    boot = f'BOOT=/boot/firmware; [ -d "$BOOT/{BUNDLE_DIR}" ] || BOOT=/boot'
    if seed.bundle:
        install = (
            f"{boot}; mkdir -p {PREFIX}/bundle && "
            f'tar -xzf "$BOOT/{BUNDLE_DIR}/{BUNDLE_NAME}" -C {PREFIX}/bundle '
            "--strip-components=1 && "
            f"{PREFIX}/bundle/install.sh --prefix {PREFIX} --config {CONFIG_PATH} --enable"
        )
    else:  # no bundle: needs a network path to a package index
        install = (
            f"python3 -m venv {PREFIX}/venv && {PREFIX}/venv/bin/pip install edgefleet && "
            f"{PREFIX}/venv/bin/edgefleet models fetch {' '.join(seed.models)}"
        )
    return "set -eu; " + install


def user_data(seed: FirstBoot) -> str:
    seed.check()
    doc: dict[str, Any] = {}
    if seed.hostname:
        doc["hostname"] = seed.hostname
        doc["manage_etc_hosts"] = True
    if seed.ssh_keys:
        doc["users"] = [
            {
                "name": seed.user,
                "groups": "sudo",
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
                "ssh_authorized_keys": [k.strip() for k in seed.ssh_keys],
            }
        ]
        doc["ssh_pwauth"] = False
        doc["ssh_deletekeys"] = True
    doc["write_files"] = [
        {
            "path": CONFIG_PATH,
            "permissions": "0600",
            "owner": "root:root",
            "content": yaml.safe_dump(agent_config(seed), sort_keys=False),
        }
    ]
    redact = (
        'for f in /boot/firmware/user-data /boot/user-data; do [ -f "$f" ] && '
        "sed -i 's/eft_[A-Za-z0-9_-]*/eft_REDACTED/g' \"$f\"; done; true"
    )
    doc["runcmd"] = [
        ["sh", "-c", _install_script(seed)],
        ["sh", "-c", redact],
    ]
    doc["final_message"] = (
        "edgefleet: first boot done after $UPTIME s (journalctl -u edgefleet-agent)"
    )
    header = (
        "#cloud-config\n"
        "# Written by `edgefleet flash` (docs/deploy-flash.md). Holds a one-time enrollment\n"
        "# token, blanked out of this file at the end of the first boot.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=1000)


def network_config(seed: FirstBoot) -> str:
    network: dict[str, Any] = {
        "version": 2,
        "ethernets": {"eth0": {"dhcp4": True, "optional": True}},
    }
    if seed.wifi_ssid is not None:
        ap: dict[str, Any] = {} if seed.wifi_psk is None else {"password": seed.wifi_psk}
        wlan: dict[str, Any] = {"dhcp4": True, "optional": True}
        if seed.wifi_country:
            wlan["regulatory-domain"] = seed.wifi_country
        wlan["access-points"] = {seed.wifi_ssid: ap}
        network["wifis"] = {"wlan0": wlan}
    return "# Written by `edgefleet flash`.\n" + yaml.safe_dump(
        {"network": network}, sort_keys=False
    )


def meta_data(seed: FirstBoot) -> str:
    """A new `instance-id` per flash: cloud-init runs its first-boot modules once per id."""
    doc = {"instance-id": seed.instance_id}
    if seed.hostname:
        doc["local-hostname"] = seed.hostname
    return yaml.safe_dump(doc, sort_keys=False)
