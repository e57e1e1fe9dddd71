"""The durable outbox: results, events and health wait here until acknowledged end to end.

A store is a bounded FIFO behind `OutboxStore` (SQLite on the device, a dict in unit tests).
`Outbox` adds the sending discipline on top: a window of at most `window` unacknowledged
messages, sent oldest first; when the oldest has waited the resend timeout without an ack (or
the session was re-established) everything unacknowledged is sent again from the oldest
(go-back-N), so the receiver sees each device's messages in order. The timeout follows the
measured ack round trip and backs off while nothing is acknowledged (`ResendTimer`). Rows
leave the store only on an ack: the hub's `{d}/ack` after its SQL batch committed
(`ack: hub`), or the broker's PUBACK (`ack: puback`, safe only with a broker that persists
sessions). See docs/offload.md.
"""

import asyncio
import contextlib
import functools
import sqlite3
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from contract import Delivery, stamp
from edge_agent.messages import Outbound
from edge_agent.resend_timer import ResendTimer


class FullPolicy(StrEnum):
    DROP_OLDEST = "drop_oldest"
    REJECT_NEW = "reject_new"


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored message; `id` orders the FIFO."""

    id: int
    msg_id: str
    topic: str
    payload: bytes
    qos: int
    retain: bool
    label: str


NewEntry = tuple[str, str, bytes, int, bool, str]  # msg_id, topic, payload, qos, retain, label


class OutboxStore(Protocol):
    """A bounded FIFO keyed by msg_id. Entry ids grow and are never reused within `epoch`."""

    epoch: str  # names this store: a new file (or a restart of a memory store) is a new epoch

    def append(self, entries: Sequence[NewEntry]) -> int:
        """Store entries; return how many messages the full-queue policy dropped."""

    def head(self, limit: int, after: int = 0) -> list[Entry]:
        """Up to `limit` oldest entries with id > `after`."""

    def remove(self, msg_ids: Iterable[str]) -> int:
        """Delete by msg_id; return how many were stored."""

    def __len__(self) -> int: ...

    def close(self) -> None: ...


class MemoryStore:
    """The in-memory store (unit tests, and devices without a writable disk)."""

    def __init__(self, max_rows: int, policy: FullPolicy = FullPolicy.DROP_OLDEST) -> None:
        self.max_rows, self.policy = max_rows, policy
        self._rows: OrderedDict[str, Entry] = OrderedDict()
        self._next = 1
        self.epoch = uuid.uuid4().hex[:16]

    def append(self, entries: Sequence[NewEntry]) -> int:
        dropped = 0
        for msg_id, topic, payload, qos, retain, label in entries:
            if msg_id in self._rows:
                continue
            if len(self._rows) >= self.max_rows:
                dropped += 1
                if self.policy is FullPolicy.REJECT_NEW:
                    continue
                self._rows.popitem(last=False)
            self._rows[msg_id] = Entry(self._next, msg_id, topic, payload, qos, retain, label)
            self._next += 1
        return dropped

    def head(self, limit: int, after: int = 0) -> list[Entry]:
        out: list[Entry] = []
        for entry in self._rows.values():
            if len(out) >= limit:
                break
            if entry.id > after:
                out.append(entry)
        return out

    def remove(self, msg_ids: Iterable[str]) -> int:
        return sum(self._rows.pop(m, None) is not None for m in msg_ids)

    def __len__(self) -> int:
        return len(self._rows)

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    label TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SqliteStore:
    """The durable store: one SQLite file in WAL mode; survives agent restarts and power cuts
    (synchronous=NORMAL: a power cut can lose the last commits, never corrupt the file)."""

    def __init__(
        self, path: Path, max_rows: int, policy: FullPolicy = FullPolicy.DROP_OLDEST
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows, self.policy = max_rows, policy
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (uuid.uuid4().hex[:16],))
        epoch = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        self.epoch = str(epoch[0])
        self._count = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def append(self, entries: Sequence[NewEntry]) -> int:
        if not entries:
            return 0
        room = self.max_rows - self._count
        over = max(0, len(entries) - room)
        db = self._db
        removed = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            if over and self.policy is FullPolicy.REJECT_NEW:
                entries = entries[: len(entries) - over]
            elif over:
                before = db.total_changes
                db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                    (over,),
                )
                removed = db.total_changes - before
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO outbox (msg_id, topic, payload, qos, retain, label)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                entries,
            )
            inserted = db.total_changes - before
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._count += inserted - removed
        return over

    def head(self, limit: int, after: int = 0) -> list[Entry]:
        rows = self._db.execute(
            "SELECT id, msg_id, topic, payload, qos, retain, label FROM outbox"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        ).fetchall()
        return [Entry(i, m, t, bytes(p), q, bool(r), lb) for i, m, t, p, q, r, lb in rows]

    def remove(self, msg_ids: Iterable[str]) -> int:
        ids = [(m,) for m in msg_ids]
        if not ids:
            return 0
        before = self._db.total_changes
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM outbox WHERE msg_id = ?", ids)
        self._db.execute("COMMIT")
        removed = self._db.total_changes - before
        self._count -= removed
        return removed

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._db.close()


class Outbox:
    """Windowed, in-order, at-least-once sending over a store (touched from one thread)."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        window: int = 256,
        ack_timeout_s: float = 10.0,
        ack_timeout_max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.window = store, window
        self.timer = ResendTimer(ack_timeout_s, ack_timeout_max_s)
        self._clock = clock
        # msg_id -> (send time in this round, sent for the first time), in send order
        self._sent: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._cursor = 0  # id of the newest entry sent in this round
        self._newest = 0  # id of the newest entry ever sent: above it, a send is a first one
        self.dropped = 0
        self.acked = 0
        self.resends = 0

    def add(self, entries: Sequence[NewEntry]) -> None:
        self.dropped += self.store.append(entries)

    def due(self) -> list[Entry]:
        """What to send now: after a timeout everything again from the oldest, else new ones
        while the window has room."""
        now = self._clock()
        if self._sent and next(iter(self._sent.values()))[0] <= now - self.timer.timeout_s:
            self.timer.expired()
            self.rewind()
        room = self.window - len(self._sent)
        if room <= 0:
            return []
        entries = self.store.head(room, after=self._cursor)
        for entry in entries:
            self._sent[entry.msg_id] = (now, entry.id > self._newest)
        if entries:
            self._cursor = entries[-1].id
            self._newest = max(self._newest, self._cursor)
        return entries

    def rewind(self) -> None:
        """Send every unacknowledged message again, oldest first (timeout or new session)."""
        self.resends += len(self._sent)
        self._sent.clear()
        self._cursor = 0

    def ack(self, msg_ids: Iterable[str]) -> int:
        ids = list(msg_ids)
        now = self._clock()
        for msg_id in ids:
            sent = self._sent.pop(msg_id, None)
            if sent is not None and sent[1]:  # Karn: an ack of a re-sent message is ambiguous
                self.timer.measured(now - sent[0])
        removed = self.store.remove(ids)
        self.acked += removed
        return removed

    def oldest(self) -> int:
        """Id of the oldest entry held (0: empty); the hub need not wait for any before it."""
        head = self.store.head(1)
        return head[0].id if head else 0

    def next_timeout(self) -> float | None:
        """Seconds until the oldest unacknowledged message times out (None: nothing sent)."""
        if not self._sent:
            return None
        first, _ = next(iter(self._sent.values()))
        return max(0.0, first + self.timer.timeout_s - self._clock())

    @property
    def in_flight(self) -> int:
        return len(self._sent)

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.close()


class Sender(Protocol):
    """What the outbox task needs of the MQTT link."""

    @property
    def connected(self) -> bool: ...

    def publish(self, message: Outbound, on_ack: Callable[[], None] | None = None) -> bool: ...


class OutboxTask:
    """The `outbox` duty: sends due entries whenever something changes, keeps acks flowing.

    `hub_acks`: entries leave only on the hub's `{d}/ack`, and each is sent stamped with its
    `delivery` (the hub then keeps this device's order); else they leave on the broker's PUBACK,
    unstamped: a hub that held back a message the device already deleted would lose it.
    """

    def __init__(
        self,
        outbox: Outbox,
        link: Sender,
        *,
        hub_acks: bool,
        on_sent: Callable[[str, int], None] = lambda label, n: None,
    ) -> None:
        self.outbox, self._link, self.hub_acks = outbox, link, hub_acks
        self._on_sent = on_sent
        self._wake = asyncio.Event()
        self._puts: list[NewEntry] = []
        self._acks: list[str] = []

    def put(self, message: Outbound) -> None:
        """Queue `message`; it is stored (with whatever else came in the same loop iteration,
        in one transaction) before it is first sent."""
        assert message.msg_id is not None
        m = message
        self._puts.append((m.msg_id or "", m.topic, m.payload, m.qos, m.retain, m.label))
        self._wake.set()

    def acked(self, msg_ids: Iterable[str]) -> None:
        """Acknowledged messages leave the store in one transaction per loop iteration (a crash
        before it sends them again: at least once, as the outbox promises)."""
        self._acks.extend(msg_ids)
        self._wake.set()

    def flush(self) -> None:
        """Write what `put` and `acked` collected: one append and one removal."""
        puts, acks = self._puts, self._acks
        if puts:
            self._puts = []
            self.outbox.add(puts)
        if acks:
            self._acks = []
            self.outbox.ack(acks)

    def close(self) -> None:
        """Store what is still queued and close the store (the agent's shutdown)."""
        self.flush()
        self.outbox.close()

    def session(self, up: bool) -> None:
        """A new session: whatever was in flight may be lost, send it again in order."""
        if up:
            self.outbox.rewind()
            self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            self.flush()
            if self._link.connected:
                self._send(self.outbox.due())
            timeout = self.outbox.next_timeout()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _send(self, entries: list[Entry]) -> None:
        since = self.outbox.oldest() if entries and self.hub_acks else 0
        for e in entries:
            payload = e.payload
            if self.hub_acks:  # its place in this device's stream, for the hub's order
                delivery = Delivery(epoch=self.outbox.store.epoch, seq=e.id, since=min(since, e.id))
                payload = stamp(payload, delivery)
            message = Outbound(e.topic, payload, e.qos, e.retain, label=e.label, msg_id=e.msg_id)
            on_ack = None if self.hub_acks else functools.partial(self.acked, (e.msg_id,))
            if not self._link.publish(message, on_ack):
                return  # session gone: the reconnect rewinds
            self._on_sent(e.label, 1)
