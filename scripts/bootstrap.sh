#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine: Debian packages (only when missing), a
# virtualenv with the pinned Python packages, and the model files verified by sha256.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
DEB_PACKAGES=(python3 mosquitto mosquitto-clients espeak-ng flite sox ffmpeg alsa-utils qemu-user-static debootstrap postgresql mtools dosfstools fdisk e2fsprogs chromium nginx)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    # Never let a package start its own daemon (mosquitto would grab :1883).
    echo 'exit 101' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
    $SUDO rm -f /usr/sbin/policy-rc.d
fi

stamp="$VENV/.edgefleet-installed"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" || constraints.txt -nt "$stamp" ]]; then
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip==24.3.1"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
    touch "$stamp"
fi
"$VENV/bin/edgefleet" models fetch
