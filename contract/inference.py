"""`{d}/result/{m}[/{rid}]` and `{d}/error`: what a device answers to an input."""

import base64
from typing import Any, Literal

from pydantic import Field

from contract.base import Message, decode
from contract.delivery import Delivery
from contract.errors import ContractError, ErrorCode


class InferResult(Message):
    model: str
    model_version: str
    where: Literal["edge", "gateway", "cloud"] = Field(
        description="who computed it: the device, a gateway of its site, or the hub"
    )
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
    served_by: str | None = Field(
        default=None, description="`where` = gateway: the gateway's device id"
    )


class ErrorMessage(Message):
    topic: str = Field(description="topic of the rejected input")
    code: ErrorCode
    error: str = Field(description="human-readable reason")
    rid: str | None = None


class EdgeAnswer(Message):
    """What the device answered itself when its cascade asks the hub for a second opinion,
    sent along (header `contract.http.EDGE_ANSWER`, base64url JSON) so that the hub keeps the
    input with both answers as a hard sample (docs/hub.md "Hard samples")."""

    model: str = Field(description="the device's model")
    model_version: str
    output: dict[str, Any] = Field(description="the device's output, see contract.outputs")
    confidence: float | None = Field(default=None, ge=0, le=1)


def edge_answer_header(answer: EdgeAnswer) -> str:
    """The header value: base64url of the JSON (headers are latin-1; outputs need not be)."""
    return base64.urlsafe_b64encode(answer.model_dump_json(exclude_none=True).encode()).decode()


def parse_edge_answer(value: str) -> EdgeAnswer:
    """The header value back; ContractError with the reason when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ContractError(f"not base64url: {exc}") from None
    return decode(EdgeAnswer, raw)
