"""`{d}/twin/desired` and `{d}/twin/reported`: configuration with a version vector.

The hub writes desired (writer `hub` in the vector), the device writes reported (writer: its
device id). A device merges the desired vector into its own once it has processed it, so a
reported vector that dominates the desired one means "seen"; neither dominating means a
concurrent edit (docs/twin.md).
"""

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contract.base import Message


class TwinDesired(Message):
    version: dict[str, int] = Field(description="version vector: writer -> counter")
    state: dict[str, Any]


class TwinConflict(BaseModel):
    """A key changed by the hub and by the device concurrently, and how it was resolved."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: str
    desired: Any = Field(description="value the hub wanted")
    local: Any = Field(description="value the device had set meanwhile")
    kept: str = Field(default="desired", description="which value now runs: desired | local")


class TwinReported(Message):
    version: dict[str, int]
    state: dict[str, Any]
    rejected: dict[str, str] = Field(
        default_factory=dict, description="desired keys not applied -> reason"
    )
    conflicts: list[TwinConflict] = Field(
        default_factory=list, description="concurrent edits found when desired was merged"
    )


SHARE_HARD_SAMPLES = "offload.share_hard_samples"
"""Twin key: false opts a device out of sending hard samples (the agent applies it; the hub
refuses a sample from a device whose desired state says false)."""


def flatten_state(state: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Twin keys are flat and dotted: {"a": {"b": 1}} -> {"a.b": 1}; dotted keys pass through."""
    flat: dict[str, Any] = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_state(value, f"{name}."))
        else:
            flat[name] = value
    return flat
