"""Which replica runs the hub's singleton jobs (MQTT ingest, the federated-round and canary
ticker): the one holding a PostgreSQL session-level advisory lock on a connection of its own.

The lock lives as long as that connection: a leader that stops, crashes or is SIGKILLed loses
it the moment PostgreSQL sees the connection close, and the next replica to ask (every tick,
`fl_tick_s`) takes over, so failover takes about one tick. A leader checks its connection on
every tick and steps down when it broke. On SQLite the hub is one process: always the leader.
Only replicas with an MQTT session compete: the jobs send commands (fl-train, model-update),
which a replica without one could only record.
"""

import asyncio
import logging
from collections.abc import Callable

import anyio
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6564_6765_666C_7401  # pg advisory lock keys: "edgefl" + 0x74xx, ours alone
LEADER_LOCK = 0x6564_6765_666C_7402


class Leadership:
    """`lead()` on every tick (from a worker thread: it talks to the database)."""

    def __init__(self, engine: Engine, *, eligible: bool = True, key: int = LEADER_LOCK) -> None:
        self.engine, self.key, self.eligible = engine, key, eligible
        self.single = engine.dialect.name != "postgresql"
        self._conn: Connection | None = None

    @property
    def leading(self) -> bool:
        return self.single or self._conn is not None

    def lead(self) -> bool:
        """True while this replica holds the lock: keep it, or try to take it."""
        if self.single:
            return True
        if not self.eligible:
            return False
        if self._conn is not None and not self._alive(self._conn):
            log.warning("lost the leader lock's connection: stepping down")
            self._drop()
        if self._conn is None:
            self._take()
        return self._conn is not None

    def release(self) -> None:
        """On shutdown: let another replica take over at once."""
        if self._conn is not None:
            log.info("leaving the singleton jobs to another replica")
            self._drop()

    def _take(self) -> None:
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()  # the lock is the session's: it outlives the transaction
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            log.info("this replica now runs the singleton jobs (leader)")
        else:
            conn.close()

    @staticmethod
    def _alive(conn: Connection) -> bool:
        try:
            conn.execute(text("SELECT 1"))
            conn.commit()
        except Exception:
            return False
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # closes the session, which ends its locks; never pooled again
            finally:
                conn.close()


async def keep_leading(
    leadership: Leadership, every_s: float, changed: Callable[[bool], None]
) -> None:
    """Ask every `every_s`; call `changed(leading)` on each change (on the loop)."""
    was = leadership.leading
    while True:
        await asyncio.sleep(every_s)
        try:
            now = await anyio.to_thread.run_sync(leadership.lead)
        except Exception:  # the database is away: whoever holds the lock keeps it
            log.exception("asking for the leader lock failed")
            now = leadership.leading
        if now != was:
            changed(now)
            was = now
