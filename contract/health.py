"""`{d}/health`: the periodic heartbeat with load and inference figures."""

from pydantic import Field

from contract.base import Message
from contract.delivery import Delivery


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
