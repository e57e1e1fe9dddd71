"""PROVISIONAL (replaced by the launcher branch's module at merge)."""

CURRENT = "current"
PREVIOUS = "previous"
PENDING = "pending"
TRIAL = "trial"
ROLLED_BACK = "rolled-back"
UPDATE = "update.json"
RESTART_EXIT = 75
CONFIG_EXIT = 2
MAX_TRIAL_STARTS = 3
ENV_RELEASES = "EDGEFLEET_RELEASES"
ENV_MODEL_DIR = "EDGEFLEET_MODEL_DIR"
