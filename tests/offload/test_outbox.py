"""The outbox stores (SQLite and memory) and the windowed, in-order, go-back-N sending."""

from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.outbox import FullPolicy, MemoryStore, NewEntry, Outbox, OutboxStore, SqliteStore

StoreFactory = Callable[[int, FullPolicy], OutboxStore]


@pytest.fixture(params=["sqlite", "memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "memory":
        return MemoryStore
    return lambda n, policy: SqliteStore(tmp_path / "outbox.sqlite", n, policy)


def entries(*ids: int) -> list[NewEntry]:
    return [(f"m{i}", f"t/{i}", str(i).encode(), 1, False, "result") for i in ids]


def test_fifo_and_idempotent_append(make_store: StoreFactory) -> None:
    store = make_store(10, FullPolicy.DROP_OLDEST)
    assert store.append(entries(1, 2, 3)) == 0
    store.append(entries(2))  # already stored: once
    assert [e.msg_id for e in store.head(10)] == ["m1", "m2", "m3"]
    assert store.remove(["m2", "nope"]) == 1
    assert [e.msg_id for e in store.head(10)] == ["m1", "m3"]
    assert len(store) == 2


@pytest.mark.parametrize(
    ("policy", "kept"),
    [(FullPolicy.DROP_OLDEST, ["m3", "m4", "m5"]), (FullPolicy.REJECT_NEW, ["m1", "m2", "m3"])],
)
def test_full_policy(make_store: StoreFactory, policy: FullPolicy, kept: list[str]) -> None:
    store = make_store(3, policy)
    dropped = store.append(entries(1, 2, 3)) + store.append(entries(4)) + store.append(entries(5))
    assert dropped == 2
    assert [e.msg_id for e in store.head(10)] == kept
    assert len(store) == 3


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    store = SqliteStore(path, 10)
    store.append(entries(1, 2))
    store.close()
    again = SqliteStore(path, 10)
    assert [e.msg_id for e in again.head(10)] == ["m1", "m2"]
    assert len(again) == 2
    again.close()


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_window_ack_and_go_back_n(make_store: StoreFactory) -> None:
    clock = Clock()
    box = Outbox(make_store(100, FullPolicy.DROP_OLDEST), window=3, ack_timeout_s=5, clock=clock)
    box.add(entries(1, 2, 3, 4, 5))
    assert [e.msg_id for e in box.due()] == ["m1", "m2", "m3"]
    assert box.due() == []  # window full
    box.ack(["m2"])
    assert [e.msg_id for e in box.due()] == ["m4"]
    clock.now = 5.0  # m1 unacknowledged too long: everything again, oldest first
    assert [e.msg_id for e in box.due()] == ["m1", "m3", "m4"]
    box.ack(["m1", "m3", "m4"])
    assert [e.msg_id for e in box.due()] == ["m5"]
    box.rewind()  # a new session
    assert [e.msg_id for e in box.due()] == ["m5"]
    box.ack(["m5"])
    assert len(box) == 0
    assert box.next_timeout() is None
