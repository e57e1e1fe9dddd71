#!/bin/sh
# The device's launcher: starts the current agent release and returns to the previous one when
# a new release fails its trial (the on-disk protocol: docs/deploy-install.md; like Greengrass's
# loader with its alts/current|old|new links, or a boot counter). Installed root-owned as
# $PREFIX/launch by install.sh and never updated over the air; the Python side spells the same
# names in edge_agent/launcher.py (tests/deploy/test_launcher.py keeps the two in step).
#
#   $PREFIX/launch [agent args...]      runs R/current/venv/bin/edgefleet agent [agent args...]
#
# R is $EDGEFLEET_RELEASES, else the directory `releases` beside this script. POSIX sh (dash).
set -u

RESTART_EXIT=75
CONFIG_EXIT=2
MAX_TRIAL_STARTS=3

# file names inside R (edge_agent/launcher.py)
CURRENT=current
PREVIOUS=previous
PENDING=pending
TRIAL=trial
ROLLED_BACK=rolled-back
# inside R/<version>
AGENT_BIN=venv/bin/edgefleet
MODELS=models

say() { echo "edgefleet launch: $*" >&2; }

HERE=$(cd "$(dirname "$0")" && pwd)
R=${EDGEFLEET_RELEASES:-$HERE/releases}
TRIAL_STARTS=${EDGEFLEET_TRIAL_STARTS:-$MAX_TRIAL_STARTS}
case $TRIAL_STARTS in
    '' | *[!0-9]*) say "EDGEFLEET_TRIAL_STARTS must be a whole number (got '$TRIAL_STARTS')"
        exit "$CONFIG_EXIT" ;;
esac

# relink NAME VERSION: R/NAME -> VERSION, atomically (a crash leaves the old or the new link)
relink() {
    ln -sfn "$2" "$R/.$1.tmp" && mv -T "$R/.$1.tmp" "$R/$1"
}

# put NAME TEXT: R/NAME holds TEXT, atomically
put() {
    printf '%s\n' "$2" > "$R/.$1.tmp" && mv -f "$R/.$1.tmp" "$R/$1"
}

target() { readlink "$R/$1" 2>/dev/null || true; }

runnable() { [ -n "$1" ] && [ -x "$R/$1/$AGENT_BIN" ]; }

# 1. a release the agent staged becomes current, on trial. Each step is safe to repeat after a
# power cut: previous is only moved while current still differs from pending.
switch_pending() {
    new=$(target "$PENDING")
    old=$(target "$CURRENT")
    if [ -z "$new" ]; then
        say "$R/$PENDING is not a symlink to a release: removed"
        rm -f "$R/$PENDING"
        return 0
    fi
    if [ "$new" = "$old" ]; then
        rm -f "$R/$PENDING"
        return 0
    fi
    if ! runnable "$new"; then
        say "pending release '$new' has no $AGENT_BIN: not switching, staying on $old"
        put "$ROLLED_BACK" "$new" && rm -f "$R/$PENDING"
        return 0
    fi
    [ -z "$old" ] || relink "$PREVIOUS" "$old" || return 1
    put "$TRIAL" 0 && relink "$CURRENT" "$new" && rm -f "$R/$PENDING" || return 1
    say "switched to $new (previous: ${old:-none}); on trial for $TRIAL_STARTS starts"
}

# 2. a release on trial gets TRIAL_STARTS starts; past those, current returns to previous
count_trial() {
    n=$(cat "$R/$TRIAL" 2>/dev/null || true)
    case $n in '' | *[!0-9]*) n=0 ;; esac
    n=$((n + 1))
    cur=$(target "$CURRENT")
    if [ "$n" -le "$TRIAL_STARTS" ]; then
        put "$TRIAL" "$n" || return 1
        say "starting $cur on trial (start $n of $TRIAL_STARTS)"
        return 0
    fi
    prev=$(target "$PREVIOUS")
    if [ "$cur" = "$prev" ]; then  # a rollback cut short after its relink: finish it
        rm -f "$R/$TRIAL"
        return 0
    fi
    if ! runnable "$prev"; then
        say "$cur failed its trial but there is no previous release to return to; staying on it"
        rm -f "$R/$TRIAL"
        return 0
    fi
    put "$ROLLED_BACK" "$cur" && relink "$CURRENT" "$prev" && rm -f "$R/$TRIAL" || return 1
    say "rolled back from $cur to $prev: $cur did not stay up through $TRIAL_STARTS starts"
}

# 3. the child, with SIGTERM/SIGINT forwarded; a stop request ends the loop
child=""
stopping=0
# shellcheck disable=SC2317  # called by the traps below
forward() {
    stopping=1
    [ -z "$child" ] || kill -s "$1" "$child" 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT

rc=0
while [ "$stopping" -eq 0 ]; do
    if [ -e "$R/$PENDING" ] || [ -L "$R/$PENDING" ]; then
        switch_pending || { say "cannot switch releases in $R"; exit 1; }
    fi
    if [ -e "$R/$TRIAL" ]; then
        count_trial || { say "cannot count the trial in $R"; exit 1; }
    fi
    cur=$(target "$CURRENT")
    if ! runnable "$cur"; then
        say "no release to start: $R/$CURRENT/$AGENT_BIN is missing"
        exit "$CONFIG_EXIT"
    fi
    [ "$stopping" -eq 0 ] || break
    EDGEFLEET_RELEASES=$R EDGEFLEET_MODEL_DIR=$R/$CURRENT/$MODELS \
        "$R/$CURRENT/$AGENT_BIN" agent "$@" &
    child=$!
    # a stop request that came before $child was known has not reached the child yet
    [ "$stopping" -eq 0 ] || kill -s TERM "$child" 2>/dev/null || true
    # `wait` returns >128 early when a trapped signal arrives: wait again while the child lives
    while :; do
        wait "$child"
        rc=$?
        if [ "$rc" -le 128 ] || ! kill -0 "$child" 2>/dev/null; then break; fi
    done
    child=""
    [ "$stopping" -eq 0 ] || break
    if [ "$rc" -eq "$RESTART_EXIT" ]; then
        say "$cur asked to be started again (exit $RESTART_EXIT)"
        continue
    fi
    # on trial every failure counts a start, a config error too: the configuration is the one
    # the previous release ran with, so a new release that refuses it is the one to go
    if [ "$rc" -ne 0 ] && [ -e "$R/$TRIAL" ]; then
        say "$cur exited $rc while on trial; starting again in 1 s"
        sleep 1 &
        child=$!
        wait "$child" 2>/dev/null || true
        child=""
        continue
    fi
    break
done
exit "$rc"
