"""Keyset paging, newest first, over a table with an integer `id`: one page costs what the
first costs (no OFFSET)."""

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


def newest_first(
    session: Session,
    table: type[Row],
    where: Sequence[ColumnElement[bool]],
    *,
    cursor: int | None,
    limit: int,
) -> tuple[list[Row], int, str | None]:
    """One page of `table` rows matching `where`, by id descending after `cursor` (the last id
    seen), the total matching, and the next cursor (None on the last page)."""
    id_: Any = table.id  # type: ignore[attr-defined]
    total = session.scalar(select(func.count()).select_from(table).where(*where)) or 0
    stmt = select(table).where(*where).order_by(id_.desc()).limit(limit + 1)
    if cursor is not None:
        stmt = stmt.where(id_ < cursor)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, total, str(rows[-1].id) if more and rows else None  # type: ignore[attr-defined]
