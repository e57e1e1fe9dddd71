"""`{d}/event/{kind}`: detections worth automating on (face, wakeword, fault)."""

from typing import Any

from pydantic import Field

from contract.base import Message
from contract.delivery import Delivery


class Event(Message):
    kind: str = Field(description="face | wakeword | fault")
    model: str
    rid: str | None = None
    msg_id: str
    delivery: Delivery | None = Field(
        default=None, description="place in the device's outbox stream (per-device order)"
    )
    data: dict[str, Any] = Field(default_factory=dict)
