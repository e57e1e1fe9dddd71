"""Decoding a batch's messages, each device's stream in its order (ingest/order.py).

A message is checked (topic, stored kind, known device) and applied (ingest/runtime.py). It
then is in the batch, or refused (counted on /metrics), or held back when it came ahead of its
device's turn; once a device's stream moves on, the message held for its next turn follows.
"""

import json
import logging

from cloud_hub.core.metrics import HubMetrics
from cloud_hub.ingest import rows as r
from cloud_hub.ingest.inbound import STORED_KINDS, Inbound
from cloud_hub.ingest.order import DeviceOrder, OutOfTurn, in_turn
from cloud_hub.ingest.runtime import Applier, Runtimes
from contract import ContractError, Delivery, Topics

log = logging.getLogger(__name__)


class Decoder:
    """Messages in, a batch's rows out (writer thread only)."""

    def __init__(
        self,
        topics: Topics,
        metrics: HubMetrics,
        runtimes: Runtimes,
        applier: Applier,
        order: DeviceOrder[Inbound] | None,
    ) -> None:
        self.topics, self.metrics, self.runtimes = topics, metrics, runtimes
        self.applier, self.order = applier, order

    def fill(self, batch: r.Batch, messages: list[Inbound]) -> None:
        for m in messages:
            device = self.decode(m, batch)
            while device is not None and (turn := self._release(device)) is not None:
                device = self.decode(turn, batch)  # held back for this turn

    def decode(self, m: Inbound, batch: r.Batch) -> str | None:
        """Ingest one message into `batch`; the device whose stream it moved on (None: it was
        refused or held back)."""
        try:
            parsed = self.topics.parse(m.topic)
        except ContractError:
            self._reject("unknown", "bad_topic")
            return None
        kind, device = parsed.kind, parsed.device
        if kind not in STORED_KINDS:
            self._reject(kind, "not_ingested")
            return None
        rt = self.runtimes.get(device, m.received)
        if rt is None:
            self._reject(kind, "unknown_device")
            return None
        try:
            self.applier.apply(kind, device, rt, m, batch)
        except ContractError as exc:
            log.debug("rejected %s from %s: %s", kind, device, exc)
            self._ack_refused(device, m.payload, batch)
            self._reject(kind, "invalid_payload")
        except OutOfTurn as ahead:
            assert self.order is not None
            self.order.hold(device, ahead.seq, m)
            self._reject(kind, "out_of_order")
            return None
        else:
            self.metrics.ingested.labels(kind).inc()
        return device

    def _release(self, device: str) -> Inbound | None:
        """The message held back for `device`'s next turn, now that its stream moved on."""
        return None if self.order is None else self.order.release(device)

    def _ack_refused(self, device: str, payload: bytes, batch: r.Batch) -> None:
        """An outbox message refused for good (invalid) is acknowledged all the same, in its
        turn: re-sending cannot fix it, and waiting for it would hold the device's stream."""
        try:
            raw = json.loads(payload)
            msg_id = raw.get("msg_id")
            delivery = Delivery.model_validate(raw["delivery"]) if "delivery" in raw else None
            in_turn(self.order, device, delivery)
        except (ValueError, AttributeError, OutOfTurn):
            return
        if isinstance(msg_id, str):
            batch.ack(device, msg_id)

    def _reject(self, kind: str, reason: str) -> None:
        self.metrics.rejected.labels(kind, reason).inc()
