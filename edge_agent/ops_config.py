"""The `commands:`, `updates:` and `model_sync:` sections of the agent's configuration
(docs/agent-updates.md, docs/model-registry.md): what an operator may make the device do, and
how the agent installs a new version of itself or of a model."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CommandsConfig(BaseModel):
    """Fleet operations that reach beyond the agent's own process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reboot: bool = False
    """Allow the `reboot` command. Off by default: a reboot takes the device away for a minute
    and a misdirected command should not be able to do that to a fleet."""
    reboot_command: list[str] = Field(default=["systemctl", "reboot"], min_length=1)
    """What `reboot` runs (argv, no shell), after its reply went out."""


class UpdatesConfig(BaseModel):
    """Over-the-air agent updates; they work only under the launcher that install.sh sets up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    releases_dir: Path | None = None
    """The releases directory; default `$EDGEFLEET_RELEASES`, which the launcher sets. Without
    either, `agent-update` is refused as `unsupported`."""
    python: Path | None = None
    """Interpreter for a new release's venv; default the one running this agent (its base, not
    the venv's)."""
    max_bundle_bytes: int = Field(default=512 << 20, ge=1)
    """A larger bundle is refused before download."""
    install_timeout_s: float = Field(default=900.0, gt=0)
    """Longest `install.sh --stage` may take (a Pi Zero installs numpy and OpenCV slowly)."""
    settle_s: float = Field(default=10.0, ge=0)
    """A new version is kept once it has been connected (models loaded, MQTT session up) for
    this long without interruption."""
    trial_s: float = Field(default=120.0, gt=0)
    """A new version that is not kept within this long after its start exits (status 1); the
    launcher counts the start, and rolls back after three."""

    @model_validator(mode="after")
    def _settle_within_trial(self) -> "UpdatesConfig":
        if self.settle_s >= self.trial_s:
            raise ValueError(
                f"updates.settle_s ({self.settle_s:g}) must be below updates.trial_s "
                f"({self.trial_s:g}): a new version could never be kept"
            )
        return self


class ModelSyncConfig(BaseModel):
    """Over-the-air model updates from the hub's signed registry (docs/model-registry.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: str | None = None
    """The hub's Ed25519 public key (base64, `GET` contract.http.SIGNING_KEY), pinned at
    enrollment; without it every `model-update` is refused."""
    state_dir: Path | None = None
    """Verified artifacts and the running version per model; default
    `$EDGEFLEET_STATE_DIR` or `~/.local/state/edgefleet`, `models-{device_id}/`."""
    max_artifact_bytes: int = Field(default=64 << 20, ge=1)
    """Larger downloads are refused."""
