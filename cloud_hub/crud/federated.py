"""Federated rounds, participants and updates in SQL."""

import math
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from cloud_hub.core.clock import utcnow
from cloud_hub.core.errors import NotFound
from cloud_hub.db import tables as t
from cloud_hub.federated.aggregate import gaussian_epsilon
from cloud_hub.schemas.federated import (
    ParticipantHealth,
    ParticipantPublic,
    RoundCreate,
    RoundPublic,
    UpdatePublic,
)
from contract.health import LIVE_STATES, DeviceState


def candidates(
    s: Session,
    *,
    model: str,
    tag: str | None = None,
    site: str | None = None,
    health: ParticipantHealth = "live",
) -> list[str]:
    """Devices that run the model and are live now (`health` "live": online or degraded;
    "healthy": online only), with `tag` and in `site` when given."""
    states = (DeviceState.ONLINE,) if health == "healthy" else LIVE_STATES
    query = (
        select(t.DeviceCapability.device_id)
        .join(t.Device, t.Device.id == t.DeviceCapability.device_id)
        .where(t.DeviceCapability.model == model, t.Device.state.in_(states))
    )
    if tag is not None:
        query = query.join(t.DeviceTag, t.DeviceTag.device_id == t.Device.id).where(
            t.DeviceTag.tag == tag
        )
    if site is not None:
        query = query.where(t.Device.site == site)
    return sorted(s.scalars(query))


GATE_PASSED, GATE_REFUSED = "passed", "refused"
"""`metrics["gate"]` of a round the accuracy gate judged (cloud_hub/federated/finalize.py)."""


def _refused() -> ColumnElement[bool]:
    """A round the accuracy gate refused: aggregated and validated, not published."""
    return and_(t.FlRound.state == "failed", t.FlRound.metrics["gate"].as_string() == GATE_REFUSED)


def privacy_record(s: Session, config: RoundCreate) -> dict[str, Any]:
    """The DP parameters of a round, with epsilon for this round and for every DP round of the
    model so far (Renyi composition, no subsampling amplification: an upper bound). A round the
    gate refused counts: its aggregate was computed and the next round trains on from it."""
    p = config.privacy
    if p is None:
        return {"enabled": False, "secure_aggregation": config.secure_aggregation}
    earlier = (
        s.scalar(
            select(func.count())
            .select_from(t.FlRound)
            .where(
                t.FlRound.model == config.model,
                or_(t.FlRound.state == "published", _refused()),
                t.FlRound.privacy["enabled"].as_boolean().is_(True),
            )
        )
        or 0
    )
    return {
        "enabled": True,
        "clip_norm": p.clip_norm,
        "noise_multiplier": p.noise_multiplier,
        "delta": p.delta,
        "epsilon_round": _bound(gaussian_epsilon(p.noise_multiplier, 1, p.delta)),
        "epsilon_total": _bound(gaussian_epsilon(p.noise_multiplier, earlier + 1, p.delta)),
        "mechanism": "gaussian, per-update L2 clipping",
        "secure_aggregation": config.secure_aggregation,
    }


def _bound(epsilon: float) -> float | None:
    """Epsilon for JSON: null when there is no bound (no or vanishing noise); PostgreSQL's
    json type refuses Infinity (a 500 found by the API fuzzer)."""
    return round(epsilon, 4) if math.isfinite(epsilon) else None


def get_round(s: Session, round_id: int) -> t.FlRound:
    row = s.get(t.FlRound, round_id)
    if row is None:
        raise NotFound(f"round {round_id} not found", code="unknown_round")
    return row


def lock_round(s: Session, round_id: int) -> t.FlRound:
    """The round row locked for this transaction (SQLite: the write lock is already held)."""
    row = s.scalar(select(t.FlRound).where(t.FlRound.id == round_id).with_for_update())
    if row is None:
        raise NotFound(f"round {round_id} not found", code="unknown_round")
    return row


def last_refused(s: Session, model: str, base_id: int) -> t.FlRound | None:
    """The latest round on `base_id` whose result the accuracy gate refused: training goes on
    from its weights (a first round often validates worse before later ones improve), while
    the published version stays what devices get."""
    return s.scalar(
        select(t.FlRound)
        .where(
            t.FlRound.model == model,
            t.FlRound.base_version_id == base_id,
            _refused(),
            t.FlRound.weights.is_not(None),
        )
        .order_by(t.FlRound.id.desc())
        .limit(1)
    )


def fail(row: t.FlRound, reason: str, now: datetime) -> None:
    row.state, row.reason, row.updated_at = "failed", reason, now


def participants(s: Session, round_id: int) -> list[t.FlParticipant]:
    return list(
        s.scalars(
            select(t.FlParticipant)
            .where(t.FlParticipant.round_id == round_id)
            .order_by(t.FlParticipant.device_id)
        )
    )


def record(
    s: Session,
    *,
    round_id: int,
    device: str,
    size: int,
    reason: str | None = None,
    detail: str | None = None,
    accepted: bool = False,
    **fields: Any,
) -> t.FlUpdate:
    row = t.FlUpdate(
        round_id=round_id,
        device_id=device[:64],
        size_bytes=size,
        accepted=accepted,
        reason=reason,
        detail=detail,
        created_at=utcnow(),
        metrics=fields.pop("metrics", None) or {},
        **fields,
    )
    s.add(row)
    s.flush()
    return row


def has_accepted(s: Session, round_id: int, device: str) -> bool:
    return (
        s.scalar(
            select(t.FlUpdate.id)
            .where(
                t.FlUpdate.round_id == round_id,
                t.FlUpdate.device_id == device,
                t.FlUpdate.accepted.is_(True),
            )
            .limit(1)
        )
        is not None
    )


def accumulate(row: t.FlRound, masked: np.ndarray) -> None:
    """Add a masked update to the round's running sum (in its ring: mod 2**64, or 2**32 for
    int8 steps); the update itself is never stored, so the database only ever holds sums."""
    dtype = masked.dtype.newbyteorder("=")
    current = (
        np.frombuffer(row.accumulator, dtype) if row.accumulator else np.zeros(masked.size, dtype)
    )
    with np.errstate(over="ignore"):
        row.accumulator = (current + masked).tobytes()


def unaggregated(s: Session, round_id: int) -> list[t.FlUpdate]:
    return list(
        s.scalars(
            select(t.FlUpdate)
            .where(
                t.FlUpdate.round_id == round_id,
                t.FlUpdate.accepted.is_(True),
                t.FlUpdate.aggregated.is_(False),
            )
            .order_by(t.FlUpdate.id)
        )
    )


def accepted(s: Session, round_id: int) -> list[t.FlUpdate]:
    return list(
        s.scalars(
            select(t.FlUpdate)
            .where(t.FlUpdate.round_id == round_id, t.FlUpdate.accepted.is_(True))
            .order_by(t.FlUpdate.id)
        )
    )


def client_metrics(rows: list[t.FlUpdate]) -> dict[str, Any]:
    """Sample-weighted means of what clients reported (loss, accuracy before/after)."""
    out: dict[str, Any] = {}
    total = sum(r.samples or 0 for r in rows)
    for key in ("loss", "accuracy", "accuracy_before"):
        weighted, weight = 0.0, 0
        for r in rows:
            value = r.metrics.get(key)
            if isinstance(value, int | float):
                weighted += float(value) * (r.samples or 0)
                weight += r.samples or 0
        if weight:
            out[f"train_{key}"] = round(weighted / weight, 4)
    out["samples"] = total
    return out


def update_public(r: t.FlUpdate) -> UpdatePublic:
    return UpdatePublic(
        id=r.id,
        device_id=r.device_id,
        size_bytes=r.size_bytes,
        encoding=r.encoding,
        samples=r.samples,
        norm=r.norm,
        staleness=r.staleness,
        accepted=r.accepted,
        aggregated=r.aggregated,
        reason=r.reason,
        detail=r.detail,
        metrics=r.metrics,
        created_at=r.created_at,
    )


def list_updates(s: Session, round_id: int) -> list[t.FlUpdate]:
    return list(
        s.scalars(select(t.FlUpdate).where(t.FlUpdate.round_id == round_id).order_by(t.FlUpdate.id))
    )


def round_public(s: Session, row: t.FlRound) -> RoundPublic:
    def version(vid: int | None) -> str | None:
        v = s.get(t.ModelVersion, vid) if vid else None
        return v.version if v else None

    counts: dict[bool, int] = {
        bool(ok): int(n)
        for ok, n in s.execute(
            select(t.FlUpdate.accepted, func.count())
            .where(t.FlUpdate.round_id == row.id)
            .group_by(t.FlUpdate.accepted)
        )
    }
    return RoundPublic(
        id=row.id,
        model=row.model,
        state=row.state,
        config=row.config,
        base_version=version(row.base_version_id),
        result_version=version(row.result_version_id),
        step=row.step,
        privacy=row.privacy,
        metrics=row.metrics,
        aggregation_ms=row.aggregation_ms,
        reason=row.reason,
        deadline=row.deadline,
        created_at=row.created_at,
        updated_at=row.updated_at,
        participants=[
            ParticipantPublic(device_id=p.device_id, state=p.state) for p in participants(s, row.id)
        ],
        updates={"accepted": counts.get(True, 0), "rejected": counts.get(False, 0)},
    )


def list_rounds(s: Session, *, model: str | None, state: str | None, limit: int) -> list[t.FlRound]:
    query = select(t.FlRound).order_by(t.FlRound.id.desc()).limit(limit)
    if model:
        query = query.where(t.FlRound.model == model)
    if state:
        query = query.where(t.FlRound.state == state)
    return list(s.scalars(query))
