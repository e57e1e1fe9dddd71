"""`delivery`: where a result, event or health stands in its device's outbox stream.

A device that waits for the hub's `{d}/ack` (outbox `ack: hub`) stamps each message it sends
from its durable outbox with `delivery`, so the hub can store each device's messages in the
order they were produced even when a broker reorders them (Mosquitto past its in-flight limit)
or drops them (amqtt keeps no session for an absent subscriber): the hub stores only the next
`seq` it expects, holds later ones back until the gap fills, and the device's go-back-N resend
brings back what was lost (docs/offload.md, "Per-device order"). Third-party clients may leave
it out: their messages are stored idempotently on `msg_id`, in arrival order.
"""

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Delivery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    epoch: str = Field(
        min_length=1, max_length=64, description="names the outbox store; new store, new epoch"
    )
    seq: int = Field(ge=1, description="position in the epoch's stream; grows with each message")
    since: int = Field(
        ge=1,
        description="oldest seq the device still holds: all before it are acknowledged or "
        "were dropped by the full-queue policy, so the hub need not wait for them",
    )

    @model_validator(mode="after")
    def _since_not_after_seq(self) -> Self:
        if self.since > self.seq:
            raise ValueError(f"since ({self.since}) must not be after seq ({self.seq})")
        return self


def stamp(payload: bytes, delivery: Delivery) -> bytes:
    """`payload` (an encoded message: a compact JSON object without `delivery`) with
    `delivery` added. Spliced rather than re-encoded: the outbox stores encoded payloads and
    stamps them at each send, on the device's event loop."""
    body = payload.rstrip()
    if not body.startswith(b"{") or not body.endswith(b"}") or body == b"{}":
        raise ValueError("stamp() needs a non-empty JSON object payload")
    return body[:-1] + b',"delivery":' + delivery.model_dump_json().encode() + b"}"
