"""Hard samples: kept by the infer route, listed and reviewed through the API.

Each device keeps its newest `keep` samples; older ones go when a new one comes, and an input
no sample refers to any more goes with them (inputs are shared by sha256).
"""

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloud_hub.crud.paging import newest_first
from cloud_hub.crud.twin import get_desired
from cloud_hub.db import tables as t
from cloud_hub.inference.agreement import agree
from contract import EdgeAnswer
from contract.twin import SHARE_HARD_SAMPLES, flatten_state


def opted_out(session: Session, device_id: str) -> bool:
    """Whether the device's desired twin says it must not share hard samples."""
    row = get_desired(session, device_id=device_id)
    desired = row.state.get("desired", {}) if row is not None else {}
    return flatten_state(desired).get(SHARE_HARD_SAMPLES) is False


def keep_sample(
    session: Session,
    *,
    device_id: str,
    edge: EdgeAnswer,
    cloud_model: str,
    cloud_version: str,
    cloud_output: dict[str, Any],
    payload: bytes,
    content_type: str,
    now: datetime,
    keep: int,
) -> int:
    """Store one sample (its input once per sha256) and trim the device's oldest; its id."""
    digest = hashlib.sha256(payload).hexdigest()
    if session.get(t.SampleContent, digest) is None:
        session.add(
            t.SampleContent(
                sha256=digest, content_type=content_type, size=len(payload), data=payload
            )
        )
        session.flush()  # the row the sample refers to first (no ORM relationship orders them)
    row = t.HardSample(
        device_id=device_id,
        model=edge.model,
        model_version=edge.model_version,
        cloud_model=cloud_model,
        cloud_version=cloud_version,
        sha256=digest,
        edge_output=edge.output,
        cloud_output=cloud_output,
        agree=agree(edge.output, cloud_output),
        review="unreviewed",
        ts=now,
    )
    session.add(row)
    session.flush()
    _trim(session, device_id, keep)
    return row.id


def _trim(session: Session, device_id: str, keep: int) -> None:
    s = t.HardSample
    newest = select(s.id).where(s.device_id == device_id).order_by(s.id.desc()).limit(keep)
    old = list(
        session.scalars(select(s.sha256).where(s.device_id == device_id, s.id.not_in(newest)))
    )
    if not old:
        return
    session.execute(delete(s).where(s.device_id == device_id, s.id.not_in(newest)))
    used = select(s.sha256).where(s.sha256.in_(set(old)))
    session.execute(
        delete(t.SampleContent).where(
            t.SampleContent.sha256.in_(set(old)), t.SampleContent.sha256.not_in(used)
        )
    )


def list_samples(
    session: Session,
    *,
    device_id: str | None,
    model: str | None,
    review: str | None,
    disagree: bool | None,
    cursor: int | None,
    limit: int,
) -> tuple[list[t.HardSample], int, str | None]:
    """One page, newest first (keyset on id), the total matching, and the next cursor."""
    s = t.HardSample
    where = [
        *([s.device_id == device_id] if device_id else []),
        *([s.model == model] if model else []),
        *([s.review == review] if review else []),
        *([s.agree.is_(not disagree)] if disagree is not None else []),
    ]
    return newest_first(session, s, where, cursor=cursor, limit=limit)


def content(session: Session, sample_id: int) -> t.SampleContent | None:
    row = session.get(t.HardSample, sample_id)
    return None if row is None else session.get(t.SampleContent, row.sha256)


def review_sample(
    session: Session, sample_id: int, review: str, label: dict[str, Any], now: datetime
) -> t.HardSample | None:
    row = session.get(t.HardSample, sample_id)
    if row is None:
        return None
    row.review, row.label, row.reviewed_at = review, label, now
    return row


def operator_labels(session: Session, *, model: str, device_id: str, limit: int) -> dict[str, int]:
    """The classes operators gave (`corrected` reviews) to the inputs `device_id`'s `model`
    asked about, newest review first: SHA-256 of the input -> class (a label without an integer
    `label`, e.g. a face list, is not a class and is left out). What a round's `fl-train` carries
    so that the device trains on them instead of the hub's answers (edge_agent/lessons.py)."""
    rows = session.execute(
        select(t.HardSample.sha256, t.HardSample.label)
        .where(
            t.HardSample.model == model,
            t.HardSample.device_id == device_id,
            t.HardSample.review == "corrected",
        )
        .order_by(t.HardSample.reviewed_at.desc(), t.HardSample.id.desc())
    )
    out: dict[str, int] = {}
    for sha, label in rows:
        value = (label or {}).get("label")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out.setdefault(sha, value)  # the newest review of an input wins
            if len(out) >= limit:
                break
    return out
