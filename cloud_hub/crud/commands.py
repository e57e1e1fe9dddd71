"""The `commands` table, read side (the SQL writer is its only writer)."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_hub.db import tables as t
from cloud_hub.schemas.commands import CommandPublic


def list_commands(
    session: Session, *, device_id: str, name: str | None, cursor: int | None, limit: int
) -> tuple[list[t.CommandRecord], int, str | None]:
    """One page of a device's commands, newest first (keyset: `cursor` is the last id seen),
    the total, and the next cursor."""
    c = t.CommandRecord
    where = [c.device_id == device_id, *([c.name == name] if name else [])]
    total = session.scalar(select(func.count()).select_from(c).where(*where)) or 0
    stmt = select(c).where(*where).order_by(c.id.desc()).limit(limit + 1)
    if cursor is not None:
        stmt = stmt.where(c.id < cursor)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, total, str(rows[-1].id) if more and rows else None


def to_public(row: t.CommandRecord) -> CommandPublic:
    return CommandPublic.model_validate(row, from_attributes=True)
