"""`{d}/event/{kind}`: detections worth automating on (face, wakeword, fault)."""

from typing import Any

from pydantic import Field

from broker.contract.base import Message


class Event(Message):
    kind: str = Field(description="face | wakeword | fault")
    model: str
    rid: str | None = None
    msg_id: str
    data: dict[str, Any] = Field(default_factory=dict)
