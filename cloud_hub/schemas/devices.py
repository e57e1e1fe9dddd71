"""Devices: registry record, service registration and health state."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from cloud_hub.schemas.common import (
    Capabilities,
    DeviceId,
    Metadata,
    RequestModel,
    Tags,
)
from contract.enrollment import Enrollment
from contract.health import DeviceState
from contract.peers import PEER_SERVICE, PeerOffer

State = DeviceState


SENSOR_TOPICS_KEY = "sensor_topics"
"""Device metadata key an admin sets: the third-party topic filters (outside the contract
prefix) the device's broker account may read. Devices cannot set it themselves at enrollment."""


class ServiceRecord(RequestModel):
    """Service registration from the design brief: id, address and metadata (version, weight)."""

    service_id: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500, examples=["http://10.0.0.7:8080"])
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _peer_offer(self) -> "ServiceRecord":
        """A site gateway's record must say what it offers: devices schedule on it."""
        if self.service_id == PEER_SERVICE:
            try:
                PeerOffer.model_validate(self.metadata)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'metadata'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ValueError(
                    f"service {PEER_SERVICE!r} needs a PeerOffer as metadata "
                    f"({{models, workers}}): {problems}"
                ) from None
        return self


class DeviceBase(RequestModel):
    name: str | None = Field(default=None, max_length=200)
    site: str | None = Field(default=None, max_length=200)
    tags: Tags = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    hardware: str | None = Field(default=None, max_length=200)
    agent_version: str | None = Field(default=None, max_length=64)
    capabilities: Capabilities = Field(default_factory=list, description="model ids it runs")


class DeviceCreate(DeviceBase):
    id: DeviceId


class DeviceUpdate(RequestModel):
    """Partial update: only the fields sent are changed; `service: null` deregisters."""

    name: str | None = Field(default=None, max_length=200)
    site: str | None = Field(default=None, max_length=200)
    tags: Tags | None = None
    metadata: Metadata | None = None
    hardware: str | None = Field(default=None, max_length=200)
    agent_version: str | None = Field(default=None, max_length=64)
    capabilities: Capabilities | None = None
    service: ServiceRecord | None = None


class DeviceHealthPublic(BaseModel):
    state: State
    reason: str | None
    since: datetime
    last_seen: datetime | None
    last_heartbeat_at: datetime | None
    last_health: dict[str, Any] | None


class DevicePublic(BaseModel):
    id: str
    name: str | None
    site: str | None
    tags: list[str]
    metadata: dict[str, Any]
    hardware: str | None
    agent_version: str | None
    capabilities: list[str]
    service: ServiceRecord | None
    health: DeviceHealthPublic
    created_at: datetime
    updated_at: datetime


class DeviceCredentials(Enrollment):
    """Shown once: the contract's enrollment answer plus the device's registry record."""

    device: DevicePublic


class StateChangePublic(BaseModel):
    ts: datetime
    from_state: str | None
    to_state: str
    reason: str | None


class HealthSamplePublic(BaseModel):
    ts: datetime
    seq: int
    cpu: float
    mem: float
    rtt_ms: float | None
    queue_depth: int
    infer_ms_p50: float | None
    offload_ratio: float
    uptime_s: float


class HealthRollupPublic(BaseModel):
    minute: datetime
    n: int
    cpu_avg: float
    cpu_max: float
    mem_avg: float
    mem_max: float
    rtt_ms_avg: float | None
    queue_depth_max: int
    offload_ratio_avg: float


class ServiceInstance(BaseModel):
    device_id: str
    service_id: str
    address: str
    metadata: dict[str, Any]
    state: State
