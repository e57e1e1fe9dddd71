"""Model registry resources: versions, deployments, device reports (docs/model-registry.md)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from cloud_hub.registry.canary import LATENCY_FLOOR_MS
from cloud_hub.schemas.common import MAX_ROW_ID, RequestModel, Tag
from contract.manifest import ModelManifest


class SigningKeyPublic(BaseModel):
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str = Field(description="raw 32-byte Ed25519 public key, base64; devices pin it")


class VersionPublic(ModelManifest):
    """A registered version: its manifest (what a `model-update` command carries) and more."""

    id: int
    parent: str | None = Field(description="version this one was derived from")
    signature: str = Field(
        description="Ed25519 over the manifest (model, version, seq, sha256, size, format), base64"
    )
    metrics: dict[str, Any]
    created_by_round: int | None
    note: str | None
    created_at: datetime
    download_url: str


class ModelSummary(BaseModel):
    model: str
    versions: int
    latest: VersionPublic | None
    devices_running: dict[str, int] = Field(description="version -> devices reporting it")


class DeploymentCreate(RequestModel):
    version: str
    target: Literal["all", "tag", "canary"] = "all"
    tag: Tag | None = None
    canary_percent: float | None = Field(default=None, gt=0, le=100)
    window_s: float = Field(default=60.0, gt=0, description="canary: observation window")
    max_error_rate: float = Field(
        default=0.05, ge=0, le=1, description="canary: error share that triggers rollback"
    )
    max_latency_ratio: float = Field(
        default=1.5, gt=1, description="canary p50 latency / baseline p50 limit"
    )
    min_latency_increase_ms: float = Field(
        default=LATENCY_FLOOR_MS,
        ge=0,
        description="canary: slower only by more than this many ms (p50), whatever the ratio",
    )
    promote: bool = Field(default=True, description="canary: roll out to all once healthy")

    @model_validator(mode="after")
    def _target_fields(self) -> "DeploymentCreate":
        if self.target == "tag" and not self.tag:
            raise ValueError("target `tag` needs `tag`")
        if self.target == "canary" and self.canary_percent is None:
            raise ValueError("target `canary` needs `canary_percent`")
        return self


class DeploymentPublic(BaseModel):
    id: int
    model: str
    version: str
    target: str
    tag: str | None
    canary_percent: float | None
    devices: list[str]
    state: str = Field(description="active | completed | rolled_back | superseded")
    reason: str | None
    rollback_version: str | None
    created_at: datetime
    finished_at: datetime | None
    running: int = Field(description="devices reporting this version")
    refused: int = Field(description="devices that refused it")


class DeviceModelReport(RequestModel):
    """What a device tells the hub after a `model-update` command (or at start)."""

    # bounds of the `device_models` columns (String(64), Integer): beyond them PostgreSQL
    # refused the row with a 500
    version: str = Field(max_length=64)
    seq: int | None = Field(default=None, ge=0, le=MAX_ROW_ID)
    state: Literal["running", "refused"]
    reason: str | None = Field(default=None, max_length=2000)
    refused_version: str | None = Field(default=None, max_length=64)
    deployment_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)


class DeviceModelPublic(BaseModel):
    device_id: str
    model: str
    version: str
    seq: int | None
    state: str
    reason: str | None
    refused_version: str | None
    deployment_id: int | None
    updated_at: datetime
