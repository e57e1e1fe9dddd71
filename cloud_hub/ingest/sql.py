"""Bulk statements of the writer: idempotent inserts and roll-ups on SQLite and PostgreSQL."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Insert, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud_hub.db import tables as t

DEVICES: Table = t.Device.__table__  # type: ignore[assignment]


def insert_ignore(table: Table, dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING: redelivered messages are written once."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def bulk_insert_ignore(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert_ignore(model.__table__, session.get_bind().dialect.name), rows)


def update_devices(session: Session, rows: list[dict[str, Any]]) -> None:
    """Presence columns of many devices in one executemany, keyed by `_id`."""
    if not rows:
        return
    columns = [k for k in rows[0] if k != "_id"]
    stmt = (
        update(DEVICES)
        .where(DEVICES.c.id == bindparam("_id"))
        .values({c: bindparam(c) for c in columns})
    )
    session.connection().execute(stmt, rows)


def rollup_minutes(session: Session, minutes: Iterable[int]) -> None:
    """Recompute the per-minute aggregates of these minutes from the raw samples."""
    minutes = sorted(minutes)
    if not minutes:
        return
    s, r = t.HealthSample, t.HealthRollup
    for chunk in (minutes[i : i + 200] for i in range(0, len(minutes), 200)):
        session.execute(delete(r).where(r.minute.in_(chunk)))
        query = (
            select(
                s.device_id,
                s.minute,
                func.count(),
                func.avg(s.cpu),
                func.max(s.cpu),
                func.avg(s.mem),
                func.max(s.mem),
                func.avg(s.rtt_ms),
                func.max(s.queue_depth),
                func.avg(s.offload_ratio),
            )
            .where(s.minute.in_(chunk))
            .group_by(s.device_id, s.minute)
        )
        session.execute(
            insert(r).from_select(
                [
                    "device_id",
                    "minute",
                    "n",
                    "cpu_avg",
                    "cpu_max",
                    "mem_avg",
                    "mem_max",
                    "rtt_ms_avg",
                    "queue_depth_max",
                    "offload_ratio_avg",
                ],
                query,
            )
        )
