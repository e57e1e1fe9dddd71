"""The `commands` table, read side (the SQL writer is its only writer)."""

from sqlalchemy.orm import Session

from cloud_hub.crud.paging import newest_first
from cloud_hub.db import tables as t
from cloud_hub.schemas.commands import CommandPublic


def list_commands(
    session: Session, *, device_id: str, name: str | None, cursor: int | None, limit: int
) -> tuple[list[t.CommandRecord], int, str | None]:
    """One page of a device's commands, newest first (keyset: `cursor` is the last id seen),
    the total, and the next cursor."""
    c = t.CommandRecord
    where = [c.device_id == device_id, *([c.name == name] if name else [])]
    return newest_first(session, c, where, cursor=cursor, limit=limit)


def to_public(row: t.CommandRecord) -> CommandPublic:
    return CommandPublic.model_validate(row, from_attributes=True)
