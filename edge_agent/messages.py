"""The agent's messages, independent of any MQTT library: what arrives, what it publishes."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    correlation: bytes | None = None  # MQTT 5 correlation data to echo
    label: str = ""  # what it is (result, event, error...), for counters and logs
    msg_id: str | None = None  # set on results, events and health: they go via the outbox
    response_topic: str | None = None  # MQTT 5: where the receiver answers (peer requests)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received message, translated from the MQTT client at the boundary (`link.py`)."""

    topic: str
    payload: bytes
    arrived: float  # time.perf_counter() when the agent took it
    response_topic: str | None = None
    correlation: bytes | None = None
