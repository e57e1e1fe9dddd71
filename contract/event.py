"""`{d}/event/{kind}`: detections worth automating on (face, wakeword, fault, intent)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contract.base import Message
from contract.delivery import Delivery


class Event(Message):
    kind: str = Field(description="face | wakeword | fault | intent")
    model: str
    rid: str | None = None
    msg_id: str
    delivery: Delivery | None = Field(
        default=None, description="place in the device's outbox stream (per-device order)"
    )
    data: dict[str, Any] = Field(default_factory=dict)


NOT_UNDERSTOOD = "not_understood"
"""`IntentEventData.event_type` of a command the hub could not make out."""


class IntentEventData(BaseModel):
    """`data` of an `intent` event: what the command spoken after a wake word asks for, as the
    hub's `voice-command` model heard it (docs/voice-commands.md). `event_type` is what Home
    Assistant's MQTT `event` entity reads."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(
        description="the intent (turn_on | turn_off), or not_understood: act on nothing"
    )
    understood: bool
    intent: str | None = Field(default=None, description="turn_on | turn_off")
    target: str | None = Field(default=None, description="the device: light, fan...")
    area: str | None = Field(default=None, description="the room, when one was said")
    text: str = Field(description="the hub's transcript of the command")
    score: float | None = Field(default=None, description="IntentOutput.score")
    wake_word: str | None = Field(default=None, description="the wake word before the command")
    wake_rid: str | None = Field(
        default=None, description="rid of the request whose wake word the command followed"
    )
    command_s: float = Field(ge=0, description="length of the audio sent to the hub")
    model_version: str | None = Field(default=None, description="the hub model's version")
    source_topic: str | None = None
