#!/bin/sh
# Install the edgefleet agent from this bundle, with no network: a venv from the wheelhouse,
# the verified model files, a config and (as root) a dedicated user and the systemd unit.
#
#   sudo ./install.sh [--prefix /opt/edgefleet] [--config /etc/edgefleet/agent.yaml]
#                     [--hub URL --token T] [--enable] [--no-systemd] [--python python3]
#
# Without root (or with --no-systemd) it only installs under --prefix and writes --config.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=/opt/edgefleet
CONFIG=/etc/edgefleet/agent.yaml
PYTHON=python3
HUB=""
TOKEN=""
ENABLE=0
SYSTEMD=1
[ "$(id -u)" -eq 0 ] || SYSTEMD=0

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --config) CONFIG=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --hub) HUB=$2; shift 2 ;;
        --token) TOKEN=$2; shift 2 ;;
        --enable) ENABLE=1; shift ;;
        --no-systemd) SYSTEMD=0; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

say() { echo "edgefleet install: $*"; }
die() { echo "edgefleet install: error: $*" >&2; exit 1; }

# 1. the bundle is intact (sha256 of every file in the manifest)
say "verifying $HERE/SHA256SUMS"
(cd "$HERE" && sha256sum --quiet -c SHA256SUMS) || die "bundle files do not match SHA256SUMS"

# 2. the interpreter matches the wheels
WANT=$(cat "$HERE/PYTHON_VERSION")
HAVE=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
    || die "$PYTHON not found"
[ "$WANT" = "$HAVE" ] || die "this bundle is for Python $WANT, $PYTHON is $HAVE"

# 3. a venv, pip from the wheelhouse (Debian's python3 may lack ensurepip), then the agent
say "creating $PREFIX/venv (no network: --no-index --find-links wheelhouse)"
mkdir -p "$PREFIX"
"$PYTHON" -m venv --without-pip --clear "$PREFIX/venv"
PIP_WHEEL=$(ls "$HERE"/wheelhouse/pip-*.whl | head -n 1)
export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS
"$PREFIX/venv/bin/python" "$PIP_WHEEL/pip" install --quiet --no-index \
    --find-links "$HERE/wheelhouse" pip
"$PREFIX/venv/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheelhouse" \
    "$HERE"/edgefleet-*.whl

# 4. model files (already verified against SHA256SUMS)
rm -rf "$PREFIX/models"
cp -R "$HERE/models" "$PREFIX/models"

# 5. the config: keep an existing one, else the template (with --hub/--token filled in)
CONFDIR=$(dirname "$CONFIG")
mkdir -p "$CONFDIR"
if [ ! -s "$CONFIG" ]; then
    umask 077
    sed -e "s|@MODEL_DIR@|$PREFIX/models|" "$HERE/agent.yaml.template" > "$CONFIG"
    if [ -n "$HUB" ]; then
        printf 'hub:\n  url: %s\n  enrollment_token: %s\n' "$HUB" "$TOKEN" >> "$CONFIG"
    fi
    umask 022
fi
chmod 600 "$CONFIG"
"$PREFIX/venv/bin/edgefleet" models --help >/dev/null 2>&1 || true

if [ "$SYSTEMD" -eq 1 ]; then
    # 6. a dedicated system user owns the state and the config (it rewrites it once enrolled)
    if ! id edgefleet >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/edgefleet --shell /usr/sbin/nologin \
            --user-group edgefleet
    fi
    for g in video audio; do getent group "$g" >/dev/null && usermod -aG "$g" edgefleet; done
    chown edgefleet:edgefleet "$CONFDIR" "$CONFIG"
    chmod 700 "$CONFDIR"
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@CONFIG@|$CONFIG|g" -e "s|@CONFDIR@|$CONFDIR|g" \
        "$HERE/systemd/edgefleet-agent.service" > /etc/systemd/system/edgefleet-agent.service
    systemctl daemon-reload
    if [ "$ENABLE" -eq 1 ]; then
        systemctl enable --now edgefleet-agent.service
        say "edgefleet-agent enabled and started (journalctl -u edgefleet-agent -f)"
    fi
fi
say "installed $(cat "$HERE/VERSION") into $PREFIX; config $CONFIG"
say "run: $PREFIX/venv/bin/edgefleet agent --config $CONFIG"
