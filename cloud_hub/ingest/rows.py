"""Turn one decoded MQTT message into table rows (pure; no SQL here)."""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contract import ErrorMessage, Event, Health, InferResult, TwinReported


@dataclass
class Batch:
    """Rows collected from one batch of messages, per table."""

    health: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    twins: dict[str, TwinReported] = field(default_factory=dict)
    state_changes: list[dict[str, Any]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # devices whose row must be updated
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    minutes: set[int] = field(default_factory=set)
    acks: dict[str, list[str]] = field(default_factory=dict)  # device -> msg_ids to acknowledge
    # (device, cmd_id) -> `commands` row: sent by the hub and/or replied (ingest/commands.py)
    commands: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def ack(self, device: str, msg_id: str | None) -> None:
        if msg_id:
            self.acks.setdefault(device, []).append(msg_id)

    def __len__(self) -> int:
        return (
            len(self.health)
            + len(self.results)
            + len(self.events)
            + len(self.errors)
            + len(self.twins)
        )


def dt(epoch: float | None) -> datetime | None:
    """Epoch seconds (runtimes keep time so) -> the aware datetime a column stores."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def health_row(device: str, h: Health) -> dict[str, Any]:
    return {
        "device_id": device,
        "ts": h.ts,
        "minute": int(h.ts.timestamp() // 60),
        "seq": h.seq,
        "cpu": h.cpu,
        "mem": h.mem,
        "rtt_ms": h.rtt_ms,
        "queue_depth": h.queue_depth,
        "infer_ms_p50": h.infer_ms_p50,
        "offload_ratio": h.offload_ratio,
        "uptime_s": h.uptime_s,
    }


def health_summary(h: Health) -> dict[str, Any]:
    """What `devices.last_health` shows: the heartbeat without its counters' bulk."""
    return h.model_dump(mode="json", exclude_none=True)


def result_row(device: str, r: InferResult) -> dict[str, Any]:
    return {
        "msg_id": r.msg_id,
        "device_id": device,
        "model": r.model,
        "model_version": r.model_version,
        "where": r.where,
        "latency_ms": r.latency_ms,
        "rid": r.rid,
        "output": r.output,
        "ts": r.ts,
    }


def event_row(device: str, e: Event) -> dict[str, Any]:
    return {
        "msg_id": e.msg_id,
        "device_id": device,
        "kind": e.kind,
        "model": e.model,
        "rid": e.rid,
        "data": e.data,
        "ts": e.ts,
    }


def error_row(device: str, e: ErrorMessage) -> dict[str, Any]:
    key = "|".join((device, e.ts.isoformat(), e.topic, e.code, e.rid or ""))
    return {
        "msg_key": hashlib.sha256(key.encode()).hexdigest(),
        "device_id": device,
        "topic": e.topic,
        "code": str(e.code),
        "error": e.error,
        "rid": e.rid,
        "ts": e.ts,
    }


def newer_twin(stored: dict[str, int] | None, incoming: dict[str, int]) -> bool:
    """Vector-clock order: keep the incoming twin unless the stored one already covers it
    (equal: a redelivery; dominating: stale). Concurrent versions: the later arrival wins."""
    if stored is None:
        return True
    keys = stored.keys() | incoming.keys()
    stored_ge = all(stored.get(k, 0) >= incoming.get(k, 0) for k in keys)
    return not stored_ge
