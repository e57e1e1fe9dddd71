"""The cloud-init NoCloud seed (`user-data`, `network-config`, `meta-data`): how Raspberry Pi OS
Trixie images take first-boot set-up from the boot partition.

Where each secret goes, and nowhere else:
- the enrollment token: only in `user-data`, inside the agent config written to
  `/etc/edgefleet/agent.yaml` (0600); the agent exchanges it for credentials at its first
  start and rewrites that file without it, and the last `runcmd` step blanks the token out of
  the copy of `user-data` left on the boot partition;
- the Wi-Fi passphrase: only in `network-config`.
"""

from __future__ import annotations

from typing import Any

import yaml

from deploy.flash.seed import (
    BOOT_MOUNT,
    CONFIG_PATH,
    OLD_BOOT_MOUNT,
    FirstBoot,
    agent_config,
    install_command,
)


def seed_files(seed: FirstBoot) -> dict[str, str]:
    """The three NoCloud files, by name."""
    return {
        "user-data": user_data(seed),
        "network-config": network_config(seed),
        "meta-data": meta_data(seed),
    }


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
        f'for f in {BOOT_MOUNT}/user-data {OLD_BOOT_MOUNT}/user-data; do [ -f "$f" ] && '
        "sed -i 's/eft_[A-Za-z0-9_-]*/eft_REDACTED/g' \"$f\"; done; true"
    )
    doc["runcmd"] = [
        ["sh", "-c", install_command()],
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
