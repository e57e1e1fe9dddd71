"""The desired twin: stored, versioned (writer `hub`), compared with the reported one.

Storage: `device_twins` holds the last reported twin per device (written by the ingest
writer). The desired twin lives in the same table under a reserved key that no device id can
take (`~` + digest; `contract.ids.ID_PATTERN` never starts with `~`), its `state` column
holding an envelope `{"desired", "published", "conflicts"}`. This avoids a migration while one
is in flight elsewhere; a dedicated `device_twin_desired` table is the intended home
(docs/twin.md).
"""

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cloud_hub.core.errors import Conflict
from cloud_hub.db import tables as t
from cloud_hub.schemas.twin import TwinConflictRecord, TwinDesiredPublic
from contract import TwinReported
from contract.twin import flatten_state
from contract.vector_clock import Order, compare, increment, merge

HUB_WRITER = "hub"
MAX_CONFLICTS = 20  # newest kept per device


def desired_key(device_id: str) -> str:
    return "~" + hashlib.sha256(device_id.encode()).hexdigest()[:63]


def _envelope(row: t.DeviceTwin | None) -> dict[str, Any]:
    if row is None:
        return {"desired": {}, "published": False, "conflicts": [], "rejected": {}}
    return dict(row.state)


def get_desired(session: Session, *, device_id: str) -> t.DeviceTwin | None:
    return session.get(t.DeviceTwin, desired_key(device_id))


def set_desired(
    session: Session,
    *,
    device_id: str,
    state: dict[str, Any],
    base_version: dict[str, int] | None,
    patch: bool,
    now: datetime,
) -> t.DeviceTwin:
    """Replace (or merge into) the desired state and count one more hub edit.

    The new vector also merges the last reported vector: the hub has seen those device edits,
    so they are not concurrent with this one.
    """
    row = get_desired(session, device_id=device_id)
    current: dict[str, int] = dict(row.version) if row is not None else {}
    if base_version is not None and compare(base_version, current) is not Order.EQUAL:
        raise Conflict(
            "the desired twin changed since base_version",
            code="twin_conflict",
            detail={"base_version": base_version, "current_version": current},
        )
    envelope = _envelope(row)
    desired = {**envelope["desired"], **state} if patch else dict(state)
    desired = {k: v for k, v in desired.items() if v is not None}
    reported = session.get(t.DeviceTwin, device_id)
    version = increment(merge(current, reported.version if reported else {}), HUB_WRITER)
    envelope.update(desired=desired, published=False)
    if row is None:
        row = t.DeviceTwin(
            device_id=desired_key(device_id), version=version, state=envelope, ts=now
        )
        session.add(row)
    else:
        row.version, row.state, row.ts = version, envelope, now
    session.flush()
    return row


def mark_published(session: Session, *, device_id: str, version: dict[str, int]) -> None:
    row = get_desired(session, device_id=device_id)
    if row is not None and row.version == version:
        row.state = {**row.state, "published": True}


def on_reported(session: Session, *, device_id: str, reported: TwinReported, now: datetime) -> bool:
    """After ingest of a reported twin: keep its rejected keys, and record a conflict when it
    is concurrent with desired or the device's own merge found keys both sides changed.
    True when a conflict was recorded."""
    row = get_desired(session, device_id=device_id)
    if row is None:
        return False
    if compare(reported.version, row.version) is not Order.BEFORE:
        row.state = {**_envelope(row), "rejected": dict(reported.rejected)}
    concurrent = compare(reported.version, row.version) is Order.CONCURRENT
    if not concurrent and not reported.conflicts:
        return False
    record = TwinConflictRecord(
        ts=now,
        source="device" if reported.conflicts else "hub",
        desired_version=dict(row.version),
        reported_version=dict(reported.version),
        keys=[c.model_dump() for c in reported.conflicts]
        or [
            {"key": k, "desired": v, "local": reported.state.get(k)}
            for k, v in flatten_state(row.state.get("desired", {})).items()
            if reported.state.get(k) != v
        ],
    )
    envelope = _envelope(row)
    conflicts = [*envelope.get("conflicts", []), record.model_dump(mode="json")]
    row.state = {**envelope, "conflicts": conflicts[-MAX_CONFLICTS:]}
    return True


def delete_desired(session: Session, *, device_id: str) -> None:
    session.execute(delete(t.DeviceTwin).where(t.DeviceTwin.device_id == desired_key(device_id)))


def sync_state(
    desired: t.DeviceTwin | None, reported: t.DeviceTwin | None, rejected: dict[str, str]
) -> str:
    if desired is None:
        return "in_sync"
    if reported is None:
        return "no_report"
    order = compare(reported.version, desired.version)
    if order is Order.BEFORE:
        return "pending"
    if order is Order.CONCURRENT:
        return "conflict"
    wanted = flatten_state(desired.state.get("desired", {}))
    differs = any(reported.state.get(k) != v for k, v in wanted.items())
    return "drift" if differs or rejected else "in_sync"


def to_public(session: Session, *, device_id: str) -> TwinDesiredPublic:
    row = get_desired(session, device_id=device_id)
    reported = session.get(t.DeviceTwin, device_id)
    envelope = _envelope(row)
    rejected: dict[str, str] = dict(envelope.get("rejected", {}))
    return TwinDesiredPublic(
        device_id=device_id,
        state=envelope["desired"],
        version=dict(row.version) if row else {},
        ts=row.ts if row else None,
        published=bool(envelope["published"]),
        sync=sync_state(row, reported, rejected),
        reported_version=dict(reported.version) if reported else None,
        rejected=rejected,
        conflicts=[TwinConflictRecord.model_validate(c) for c in envelope["conflicts"]],
    )
