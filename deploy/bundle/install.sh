#!/bin/sh
# Install the edgefleet agent from this bundle, with no network: a release (a venv from the
# wheelhouse and the verified model files) under $PREFIX/releases, the launcher, a config and
# (as root) a dedicated user and the systemd unit. docs/deploy-install.md has the layout.
#
#   sudo ./install.sh [--prefix /opt/edgefleet] [--config /etc/edgefleet/agent.yaml]
#                     [--hub URL --token T] [--enable] [--no-systemd] [--python python3]
#   ./install.sh --stage RELEASES_DIR [--python python3]
#
# Without root (or with --no-systemd) it only installs under --prefix and writes --config.
# --stage (run by the agent for an over-the-air update) only adds RELEASES_DIR/<VERSION>.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=/opt/edgefleet
CONFIG=/etc/edgefleet/agent.yaml
PYTHON=python3
HUB=""
TOKEN=""
ENABLE=0
SYSTEMD=1
STAGE=""
INSTALL_ONLY=""
[ "$(id -u)" -eq 0 ] || SYSTEMD=0

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; INSTALL_ONLY=$1; shift 2 ;;
        --config) CONFIG=$2; INSTALL_ONLY=$1; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --hub) HUB=$2; INSTALL_ONLY=$1; shift 2 ;;
        --token) TOKEN=$2; INSTALL_ONLY=$1; shift 2 ;;
        --enable) ENABLE=1; INSTALL_ONLY=$1; shift ;;
        --no-systemd) SYSTEMD=0; INSTALL_ONLY=$1; shift ;;
        --stage) STAGE=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

say() { echo "edgefleet install: $*"; }
die() { echo "edgefleet install: error: $*" >&2; exit 1; }

if [ -n "$STAGE" ]; then
    [ -z "$INSTALL_ONLY" ] || die "--stage takes only --python (not $INSTALL_ONLY)"
    [ -d "$STAGE" ] || die "--stage $STAGE: not a directory"
    R=$(cd "$STAGE" && pwd)
else
    R=$PREFIX/releases
fi
VERSION=$(cat "$HERE/VERSION")
case $VERSION in
    '' | .* | */* | current | previous | pending | trial | rolled-back | update.json)
        die "VERSION '$VERSION' cannot name a release directory" ;;
esac
REL=$R/$VERSION
if [ -n "$STAGE" ] && [ "$(readlink "$R/current" 2>/dev/null || true)" = "$VERSION" ]; then
    die "$VERSION is the current release in $R: nothing to stage"
fi

# 1. the bundle is intact (sha256 of every file in the manifest)
say "verifying $HERE/SHA256SUMS"
(cd "$HERE" && sha256sum --quiet -c SHA256SUMS) || die "bundle files do not match SHA256SUMS"

# 2. the interpreter matches the wheels
WANT=$(cat "$HERE/PYTHON_VERSION")
HAVE=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
    || die "$PYTHON not found"
[ "$WANT" = "$HAVE" ] || die "this bundle is for Python $WANT, $PYTHON is $HAVE"

# 3. the release: a venv, pip from the wheelhouse (Debian's python3 may lack ensurepip), the
# agent, then the model files (already verified against SHA256SUMS). A venv cannot be moved once
# built (its scripts name their interpreter by path), so it is built in place and removed again
# if any step fails.
BUILDING=$REL
trap '[ -z "$BUILDING" ] || rm -rf "$BUILDING"' EXIT
trap 'exit 1' INT TERM HUP
say "creating $REL/venv (no network: --no-index --find-links wheelhouse)"
rm -rf "$REL"
mkdir -p "$REL"
"$PYTHON" -m venv --without-pip --clear "$REL/venv"
PIP_WHEEL=$(ls "$HERE"/wheelhouse/pip-*.whl | head -n 1)
export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS
"$REL/venv/bin/python" "$PIP_WHEEL/pip" install --quiet --no-index \
    --find-links "$HERE/wheelhouse" pip
"$REL/venv/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheelhouse" \
    "$HERE"/edgefleet-*.whl
cp -R "$HERE/models" "$REL/models"
"$REL/venv/bin/edgefleet" --help >/dev/null || die "$REL/venv/bin/edgefleet does not run"
BUILDING=""

if [ -n "$STAGE" ]; then
    # the agent owns R; a root caller hands the release to R's owner
    [ "$(id -u)" -ne 0 ] || chown -R "$(stat -c %u:%g "$R")" "$REL"
    say "staged $VERSION in $REL"
    exit 0
fi

# relink LINK TARGET: LINK -> TARGET atomically (an older install's real directory goes first)
relink() {
    if [ -d "$1" ] && [ ! -L "$1" ]; then rm -rf "$1"; fi
    ln -sfn "$2" "$1.tmp" && mv -T "$1.tmp" "$1"
}

# 4. current -> this release (an explicit install decides what runs: no trial, nothing pending);
# $PREFIX/venv and $PREFIX/models follow it, so older paths and configs keep working
OLD=$(readlink "$R/current" 2>/dev/null || true)
if [ -n "$OLD" ] && [ "$OLD" != "$VERSION" ]; then relink "$R/previous" "$OLD"; fi
relink "$R/current" "$VERSION"
rm -f "$R/trial" "$R/pending"
relink "$PREFIX/venv" releases/current/venv
relink "$PREFIX/models" releases/current/models
# the launcher replaces the old one by rename: a running sh reads its script as it goes
cp "$HERE/launch.sh" "$PREFIX/.launch.tmp"
chmod 0755 "$PREFIX/.launch.tmp"
mv -f "$PREFIX/.launch.tmp" "$PREFIX/launch"

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

if [ "$SYSTEMD" -eq 1 ]; then
    # 6. a dedicated system user owns the state, the config (it rewrites it once enrolled) and
    # the releases (it stages updates there); root keeps the launcher and $PREFIX itself
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
fi
if [ "$(id -u)" -eq 0 ] && id edgefleet >/dev/null 2>&1; then
    chown -R edgefleet:edgefleet "$R"
fi
if [ "$SYSTEMD" -eq 1 ] && [ "$ENABLE" -eq 1 ]; then
    systemctl enable --now edgefleet-agent.service
    say "edgefleet-agent enabled and started (journalctl -u edgefleet-agent -f)"
fi
say "installed $VERSION into $REL (current); config $CONFIG"
say "run: $PREFIX/launch --config $CONFIG"
