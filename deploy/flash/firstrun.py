"""Bookworm first boot: a `firstrun.sh` on the boot partition that systemd runs once, as
Raspberry Pi Imager sets up Bookworm images (`systemd.run=` in `cmdline.txt`; Bookworm images
have no cloud-init).

The script sets the host name, the login user with its SSH keys, Wi-Fi (a NetworkManager
connection), writes the agent config and installs the bundle. Whatever happens it then deletes
itself and takes its `systemd.run` entries out of `cmdline.txt` (an EXIT trap): it holds the
one-time enrollment token and the Wi-Fi passphrase, and must run once only. On success
systemd reboots into the configured system.
"""

from __future__ import annotations

import base64
import shlex

import yaml

from deploy.flash.seed import (
    BOOT_MOUNT,
    CONFIG_PATH,
    OLD_BOOT_MOUNT,
    FirstBoot,
    agent_config,
    install_command,
)

SCRIPT = "firstrun.sh"
CMDLINE = "cmdline.txt"
RUN_ARGS = (
    f"systemd.run={BOOT_MOUNT}/{SCRIPT} systemd.run_success_action=reboot "
    "systemd.unit=kernel-command-line.target"
)
NM_CONNECTION = "/etc/NetworkManager/system-connections/edgefleet-wifi.nmconnection"


def patched_cmdline(cmdline: str) -> str:
    """`cmdline.txt` with our `systemd.run` arguments, once (a re-flash replaces them); the
    kernel reads one line."""
    kept = [arg for arg in cmdline.split() if not _is_run_arg(arg)]
    return " ".join([*kept, *RUN_ARGS.split()]) + "\n"


def _is_run_arg(arg: str) -> bool:
    return arg.startswith("systemd.run") or arg == "systemd.unit=kernel-command-line.target"


def firstrun_script(seed: FirstBoot) -> str:
    seed.check()
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        "# Written by `edgefleet flash` (docs/deploy-flash.md) for Raspberry Pi OS Bookworm.",
        "# Holds a one-time enrollment token: it deletes itself when it ends.",
        "set -eu",
        f'BOOT={BOOT_MOUNT}; [ -f "$BOOT/{CMDLINE}" ] || BOOT={OLD_BOOT_MOUNT}',
        "finish() {",
        f'    rm -f "$BOOT/{SCRIPT}"',
        "    sed -i -E 's/ ?systemd\\.(run[a-z_]*=[^ ]*|unit=kernel-command-line\\.target)//g' "
        f'"$BOOT/{CMDLINE}"',
        "}",
        "trap finish EXIT",
    ]
    if seed.hostname:
        name = q(seed.hostname)
        lines += [
            f"echo {name} > /etc/hostname",
            f"sed -i -E 's/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1\\t'{name}'/' /etc/hosts",
            f"hostname {name} || true",
        ]
    if seed.ssh_keys:
        user = q(seed.user)
        keys = "\n".join(k.strip() for k in seed.ssh_keys) + "\n"
        lines += [
            f"id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo {user}",
            f"passwd -l {user}",
            f"install -d -m 0700 -o {user} -g {user} /home/{seed.user}/.ssh",
            _write_b64(keys, f"/home/{seed.user}/.ssh/authorized_keys", "0600", seed.user),
            "install -d -m 0755 /etc/ssh/sshd_config.d",
            "printf 'PasswordAuthentication no\\n' > /etc/ssh/sshd_config.d/edgefleet.conf",
            "systemctl enable ssh",
            "systemctl disable userconfig.service 2>/dev/null || true  # Pi OS's first-user wizard",
            "systemctl enable getty@tty1.service 2>/dev/null || true",
        ]
    if seed.wifi_ssid is not None:
        if seed.wifi_country:
            lines.append(
                "command -v raspi-config >/dev/null && "
                f"raspi-config nonint do_wifi_country {q(seed.wifi_country)} || true"
            )
        lines += [
            "rfkill unblock wifi 2>/dev/null || true",
            "install -d -m 0755 /etc/NetworkManager/system-connections",
            _write_b64(nm_connection(seed), NM_CONNECTION, "0600", "root"),
        ]
    lines += [
        "install -d -m 0755 /etc/edgefleet",
        _write_b64(
            yaml.safe_dump(agent_config(seed), sort_keys=False), CONFIG_PATH, "0600", "root"
        ),
        f"sh -c {q(install_command())}",
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


def nm_connection(seed: FirstBoot) -> str:
    """A NetworkManager keyfile for the Wi-Fi. The SSID is written as a list of byte values,
    which NetworkManager reads for any SSID (no escaping of ';' or spaces needed)."""
    assert seed.wifi_ssid is not None
    ssid = ";".join(str(b) for b in seed.wifi_ssid.encode()) + ";"
    lines = [
        "[connection]",
        "id=edgefleet-wifi",
        "type=wifi",
        "interface-name=wlan0",
        "autoconnect=true",
        "",
        "[wifi]",
        "mode=infrastructure",
        f"ssid={ssid}",
        "",
    ]
    if seed.wifi_psk is not None:
        psk = seed.wifi_psk.replace("\\", "\\\\")
        lines += ["[wifi-security]", "key-mgmt=wpa-psk", f"psk={psk}", ""]
    lines += ["[ipv4]", "method=auto", "", "[ipv6]", "method=auto", ""]
    return "\n".join(lines)


def _write_b64(content: str, path: str, mode: str, owner: str) -> str:
    """Shell: write `content` to `path` (base64 in the script, so no quoting can break it)."""
    encoded = base64.b64encode(content.encode()).decode()
    return (
        f"(umask 077; echo {encoded} | base64 -d > {shlex.quote(path)}) && "
        f"chmod {mode} {shlex.quote(path)} && chown {owner}:{owner} {shlex.quote(path)}"
    )
