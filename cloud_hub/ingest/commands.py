"""Rows of the `commands` table: the commands the hub published (handed over by the messenger)
and the replies devices sent back, merged per (device, cmd_id), and their upsert.

The sent half and the reply half may arrive in either order (several replicas receive every
reply; a replica's writer may lag another's), so each is an idempotent write of its own:
insert the row if new, then fill in that half.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from cloud_hub.db import tables as t
from cloud_hub.ingest import sql
from cloud_hub.schemas.common import unstorable
from contract import Command, CommandReply, ContractError

COMMANDS: Table = t.CommandRecord.__table__  # type: ignore[assignment]
CMD_ID_MAX = 128  # the column's width
_SENT = ("args", "sent_at")
_REPLY = ("replied_at", "ok", "code", "error", "result")
_EMPTY: dict[str, Any] = dict.fromkeys((*_SENT, *_REPLY))

Rows = dict[tuple[str, str], dict[str, Any]]  # (device, cmd_id) -> row


def _row(device: str, name: str, cmd_id: str, received: float) -> dict[str, Any]:
    if not cmd_id or len(cmd_id) > CMD_ID_MAX or "\x00" in cmd_id:
        raise ContractError(f"cmd_id must be 1 to {CMD_ID_MAX} characters without NUL")
    return {
        "device_id": device,
        "name": name,
        "cmd_id": cmd_id,
        "ts": datetime.fromtimestamp(received, UTC),
        **_EMPTY,
    }


def add_sent(rows: Rows, device: str, name: str, command: Command, received: float) -> None:
    """The hub published `command` on `{device}/cmd/{name}` at `received`."""
    row = rows.setdefault((device, command.cmd_id), _row(device, name, command.cmd_id, received))
    row.update(args=command.args, sent_at=datetime.fromtimestamp(received, UTC))


def add_reply(rows: Rows, device: str, name: str, reply: CommandReply, received: float) -> None:
    """`device` answered on `{device}/cmd/{name}/reply`; ContractError if SQL cannot store it."""
    if problem := unstorable([reply.result, reply.error]):
        raise ContractError(f"reply not storable: {problem}")
    row = rows.setdefault((device, reply.cmd_id), _row(device, name, reply.cmd_id, received))
    row.update(
        replied_at=reply.ts,
        ok=reply.ok,
        error=reply.error,
        result=reply.result,
        code=reply.code.value if reply.code else None,
    )


def _fill(columns: tuple[str, ...], only_if_null: str | None = None) -> Any:
    c = COMMANDS.c
    stmt = update(COMMANDS).where(
        c.device_id == bindparam("_device"), c.cmd_id == bindparam("_cmd")
    )
    if only_if_null is not None:
        stmt = stmt.where(c[only_if_null].is_(None))
    return stmt.values({name: bindparam(f"_{name}") for name in columns})


def write(session: Session, rows: Rows) -> None:
    """Insert new rows, then fill in each one's sent half (once) and reply half."""
    if not rows:
        return
    sql.bulk_insert_ignore(session, t.CommandRecord, list(rows.values()))
    conn = session.connection()
    halves = ((_SENT, "sent_at", True), (_REPLY, "replied_at", False))  # the first sending
    for columns, marker, once in halves:  # stays; a later reply replaces an earlier one
        params = [
            {"_device": r["device_id"], "_cmd": r["cmd_id"], **{f"_{k}": r[k] for k in columns}}
            for r in rows.values()
            if r[marker] is not None
        ]
        if params:
            conn.execute(_fill(columns, marker if once else None), params)
