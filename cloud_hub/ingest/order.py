"""Per-device order: store each device's outbox stream in sequence (a reordering receiver).

A device stamps what it sends from its outbox with `delivery` (epoch, seq, since; see
`contract.delivery`). The hub stores a message only when its seq is the next one it
expects from that device. One that is ahead is held back (bounded) until the gap fills:
brokers reorder QoS 1 deliveries (Mosquitto sends a queued message after a newer one once more
than `max_inflight_messages` are in flight to the hub), and the missing one usually follows
within milliseconds. One that never comes (amqtt drops QoS 1 messages for an absent subscriber)
is re-sent by the device with everything after it once its ack timeout passes (go-back-N).
What the hub has already passed is stored idempotently (on msg_id) and acknowledged again.
The expected seq is never behind the device's `since`, so a message the device dropped (full
outbox) or whose ack it already got cannot hold the stream up. The state is in memory: after a
hub restart (or a failed batch) the first message accepted from a device is the oldest it
still holds.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from contract import Delivery

HELD_PER_DEVICE = 1024  # messages held back per device (4 outbox windows)

T = TypeVar("T")


class Verdict(StrEnum):
    NEXT = "next"  # in sequence: store and acknowledge
    PASSED = "passed"  # at or behind what was accepted: store idempotently, acknowledge again
    GAP = "gap"  # ahead of the next expected: hold back (or leave to the resend), no ack
    UNORDERED = "unordered"  # no delivery stamp (third-party client): store as it comes


@dataclass(slots=True)
class _Stream(Generic[T]):
    epoch: str
    next: int
    held: dict[int, T] = field(default_factory=dict)  # seq -> message ahead of its turn


class DeviceOrder(Generic[T]):
    """The next seq expected from each device, and what is held back (writer thread only)."""

    def __init__(self, held_per_device: int = HELD_PER_DEVICE) -> None:
        self.held_per_device = held_per_device
        self._streams: dict[str, _Stream[T]] = {}
        self._held = 0  # across devices, kept as it changes (read after every batch)

    def check(self, device: str, delivery: Delivery | None) -> Verdict:
        if delivery is None:
            return Verdict.UNORDERED
        stream = self._streams.get(device)
        if stream is None or stream.epoch != delivery.epoch:  # first sight or a new store
            self.forget(device)
            stream = self._streams[device] = _Stream(delivery.epoch, delivery.since)
        expected = max(stream.next, delivery.since)
        stream.next = expected
        if delivery.seq > expected:
            return Verdict.GAP
        if delivery.seq < expected:
            return Verdict.PASSED
        stream.next = expected + 1
        return Verdict.NEXT

    def hold(self, device: str, seq: int, message: T) -> bool:
        """Keep a message that came ahead of its turn; False when the device's room is full
        (it is then left to the device's resend)."""
        stream = self._streams.get(device)
        if stream is None or len(stream.held) >= self.held_per_device:
            return False
        self._held += seq not in stream.held
        stream.held[seq] = message
        return True

    def release(self, device: str) -> T | None:
        """The held message that is now next in turn, if any (stale ones are dropped)."""
        stream = self._streams.get(device)
        if stream is None or not stream.held:
            return None
        for seq in [s for s in stream.held if s < stream.next]:
            del stream.held[seq]
            self._held -= 1
        message = stream.held.pop(stream.next, None)
        self._held -= message is not None
        return message

    def held(self) -> int:
        return self._held

    def forget(self, device: str | None = None) -> None:
        """Drop what is known and held (one device, or all after a failed batch): safe, since
        the next message accepted is then the oldest the device holds."""
        if device is None:
            self._streams.clear()
            self._held = 0
        elif (stream := self._streams.pop(device, None)) is not None:
            self._held -= len(stream.held)


class OutOfTurn(Exception):
    """A message ahead of its device's next expected seq: held back, not acknowledged."""

    def __init__(self, seq: int) -> None:
        self.seq = seq


def in_turn(order: DeviceOrder[Any] | None, device: str, delivery: Delivery | None) -> None:
    """Raise `OutOfTurn` when `delivery` is ahead of the device's next expected seq (never
    without an `order`: a shared subscription stores messages as they come)."""
    if order is not None and order.check(device, delivery) is Verdict.GAP:
        assert delivery is not None
        raise OutOfTurn(delivery.seq)
