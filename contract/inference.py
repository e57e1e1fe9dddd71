"""`{d}/result/{m}[/{rid}]` and `{d}/error`: what a device answers to an input."""

from typing import Any, Literal

from pydantic import Field

from contract.base import Message
from contract.delivery import Delivery
from contract.errors import ErrorCode


class InferResult(Message):
    model: str
    model_version: str
    where: Literal["edge", "cloud"]
    latency_ms: float = Field(ge=0, description="input received -> result ready")
    output: dict[str, Any] = Field(description="task-specific, see contract.outputs")
    rid: str | None = Field(default=None, description="request id, echoed from the topic")
    msg_id: str = Field(description="unique id, lets the hub ingest idempotently")
    delivery: Delivery | None = Field(
        default=None, description="place in the device's outbox stream (per-device order)"
    )
    source_topic: str | None = Field(default=None, description="topic the input arrived on")
    edge_confidence: float | None = Field(
        default=None, ge=0, le=1, description="cascade: the light (edge) model's confidence"
    )
    cloud_confidence: float | None = Field(
        default=None, ge=0, le=1, description="cascade: the full (cloud) model's confidence"
    )


class ErrorMessage(Message):
    topic: str = Field(description="topic of the rejected input")
    code: ErrorCode
    error: str = Field(description="human-readable reason")
    rid: str | None = None
