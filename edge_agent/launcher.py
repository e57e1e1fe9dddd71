"""The names of a device's release directory, for Python (the agent, install tests).

The launcher, `deploy/bundle/launch.sh` (POSIX sh, installed as `$PREFIX/launch`), spells the
same values; tests/deploy/test_launcher.py reads its assignments and fails when the two differ.
docs/deploy-install.md describes the protocol:

    R/<version>/venv/bin/edgefleet   a release (R = $PREFIX/releases, owned by the agent's user)
    R/<version>/models/
    R/current -> <version>           what the launcher starts
    R/previous -> <version>          what a rollback returns to
    R/pending -> <version>           written by the agent; the launcher switches at its next start
    R/trial                          starts of current since the switch (launcher); the agent
                                     deletes it once healthy
    R/rolled-back                    the version that failed its trial (launcher); the agent
                                     reads and deletes it
    R/update.json                    the agent's record of a staged update; the launcher ignores it

Only the standard library here: the agent imports this module at start-up.
"""

from __future__ import annotations

from typing import Final

# under $PREFIX
RELEASES: Final = "releases"  # R
LAUNCHER: Final = "launch"  # the installed launch.sh

# inside R
CURRENT: Final = "current"
PREVIOUS: Final = "previous"
PENDING: Final = "pending"
TRIAL: Final = "trial"
ROLLED_BACK: Final = "rolled-back"
UPDATE_JSON: Final = "update.json"

# inside R/<version>
VENV: Final = "venv"
MODELS: Final = "models"
AGENT_BIN: Final = "venv/bin/edgefleet"

# exit codes of `edgefleet agent`, as the launcher reads them
RESTART_EXIT: Final = 75  # start me again now (a restart command, a staged update)
CONFIG_EXIT: Final = 2  # configuration error: starting again will not help

# starts a new release gets before the launcher returns to the previous one
MAX_TRIAL_STARTS: Final = 3

# environment
ENV_RELEASES: Final = "EDGEFLEET_RELEASES"  # R; set by the launcher for the agent
ENV_MODEL_DIR: Final = "EDGEFLEET_MODEL_DIR"  # R/current/models; set by the launcher
ENV_TRIAL_STARTS: Final = "EDGEFLEET_TRIAL_STARTS"  # overrides MAX_TRIAL_STARTS (launcher)
