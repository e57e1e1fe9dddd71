"""`{d}/health`: the periodic heartbeat, the healthy bands its figures are judged by, and the
states the hub makes of a device from its heartbeats and status."""

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.base import Message
from contract.delivery import Delivery

CPU_HEALTHY_MAX = 0.70
"""CPU share (`Health.cpu`) above which a device is out of its healthy band: the hub calls it
degraded, the agent's offload policy counts it as overloaded."""
MEM_HEALTHY_MAX = 0.65
"""Memory share (`Health.mem`) above which a device is out of its healthy band."""
RTT_HEALTHY_MS = 50.0
"""Round trip to the hub (`Health.rtt_ms`) below which the link counts as healthy."""


class DeviceState(StrEnum):
    """A device's health state at the hub (cloud_hub/health/state.py decides it)."""

    ONLINE = "online"
    """Heartbeats arrive on time and every figure is inside its band."""
    DEGRADED = "degraded"
    """Heartbeat late, a figure over its band, or recent model errors."""
    OFFLINE = "offline"
    """The device said so: Last Will or clean disconnect (`status` = offline)."""
    LOST = "lost"
    """No heartbeat for several intervals."""


LIVE_STATES = (DeviceState.ONLINE, DeviceState.DEGRADED)
"""States in which a device is connected and answering."""


class SourceState(StrEnum):
    """Where one of the device's own sensors (a camera, a microphone) is."""

    CONNECTING = "connecting"
    """Opening it, or waiting to try again after a failure (`last_error` says which)."""
    CAPTURING = "capturing"
    """Frames or audio arrive."""
    FAILED = "failed"
    """It cannot be read as configured (an unsupported pixel format, say); retried slowly."""


class SourceHealth(BaseModel):
    """One sensor source of the device, in its heartbeat (`Health.sources`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # a newer device may add fields

    kind: Literal["camera", "microphone"]
    model: str = Field(description="the model its frames or audio go to")
    state: SourceState
    fps: float = Field(ge=0, description="frames read per second, over the last few seconds")
    frames: int = Field(ge=0, description="frames read since start")
    inferred: int = Field(ge=0, description="frames sent to the model")
    dropped: int = Field(ge=0, description="moving frames skipped: the previous one was busy")
    motion_ratio: float = Field(
        ge=0, le=1, description="share of frames (after the fps cap) that showed motion"
    )
    reconnects: int = Field(ge=0, description="times it was opened again after a failure")
    last_error: str | None = Field(default=None, description="why it last failed, if it did")


class Health(Message):
    cpu: float = Field(ge=0, le=1, description="CPU utilisation of the device, 0..1")
    mem: float = Field(ge=0, le=1, description="memory utilisation of the device, 0..1")
    rtt_ms: float | None = Field(default=None, ge=0, description="measured RTT to the hub")
    queue_depth: int = Field(ge=0, description="inference requests waiting on the device")
    infer_ms_p50: float | None = Field(default=None, ge=0, description="median local latency")
    offload_ratio: float = Field(default=0.0, ge=0, le=1, description="share sent to the cloud")
    uptime_s: float = Field(ge=0)
    seq: int = Field(ge=0, description="increments by one per heartbeat; resets on restart")
    rss_mb: float | None = Field(default=None, ge=0, description="agent resident memory")
    msg_id: str | None = Field(
        default=None, description="unique id; the hub acknowledges it on `{d}/ack`"
    )
    delivery: Delivery | None = Field(
        default=None, description="place in the device's outbox stream (per-device order)"
    )
    counters: dict[str, int] = Field(
        default_factory=dict, description="monotonic counters: requests, results, errors by code"
    )
    latency_ms: dict[str, float] = Field(
        default_factory=dict,
        description="per model, recent arrival-to-answer time of local runs (EWMA, ms): what a "
        "peer's scheduler expects from this device",
    )
    workers_free: int | None = Field(
        default=None, ge=0, description="inference workers idle at the heartbeat, all models"
    )
    sources: dict[str, SourceHealth] = Field(
        default_factory=dict, description="the device's own cameras and microphones, by name"
    )
