"""The outbox stores (SQLite and memory) and the windowed, in-order, go-back-N sending."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from contract import Delivery, InferResult, decode, encode
from edge_agent.messages import Outbound
from edge_agent.outbox import (
    FullPolicy,
    MemoryStore,
    NewEntry,
    Outbox,
    OutboxStore,
    OutboxTask,
    SqliteStore,
)
from tests.edge_agent.fakes import FakeLink

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


def test_resends_back_off_while_nothing_is_acknowledged(make_store: StoreFactory) -> None:
    """A hub that is away (or slower than the devices send) is asked less and less often: each
    resend round without an ack doubles the timeout, up to `ack_timeout_max_s`."""
    clock = Clock()
    store = make_store(100, FullPolicy.DROP_OLDEST)
    box = Outbox(store, window=2, ack_timeout_s=2, ack_timeout_max_s=8, clock=clock)
    box.add(entries(1, 2, 3))
    rounds = []
    for _ in range(5):
        assert [e.msg_id for e in box.due()] == ["m1", "m2"]
        wait = box.next_timeout()
        assert wait is not None
        rounds.append(wait)
        clock.now += wait
    assert rounds == [2, 4, 8, 8, 8]
    assert box.resends == 8


def test_resend_timeout_follows_the_measured_round_trip(make_store: StoreFactory) -> None:
    """Acks that take longer than the floor raise the timeout (SRTT + 4 RTTVAR), so a slow
    hub is not flooded with copies; only messages sent once are measured (Karn's rule)."""
    clock = Clock()
    box = Outbox(
        make_store(100, FullPolicy.DROP_OLDEST),
        window=1,
        ack_timeout_s=2,
        ack_timeout_max_s=60,
        clock=clock,
    )
    box.add(entries(1, 2, 3, 4))
    assert [e.msg_id for e in box.due()] == ["m1"]
    clock.now = 2.0
    assert [e.msg_id for e in box.due()] == ["m1"]  # timed out: resent, backed off to 4 s
    clock.now = 5.0
    box.ack(["m1"])  # ambiguous (which copy?): not measured, the backed-off timeout stays
    assert box.timer.timeout_s == 4
    for sent_at in (5.0, 10.0):  # sent once, acknowledged 3 s later
        clock.now = sent_at
        assert len(box.due()) == 1
        clock.now = sent_at + 3
        box.ack([e.msg_id for e in box.store.head(1)])
    assert box.timer.srtt_s == pytest.approx(3.0)
    assert box.timer.timeout_s == pytest.approx(3.0 + 4 * 0.75 * 1.5)  # RTTVAR decays
    fast = Outbox(make_store(100, FullPolicy.DROP_OLDEST), window=1, ack_timeout_s=2, clock=clock)
    fast.add(entries(9))
    fast.due()
    clock.now += 0.05
    fast.ack(["m9"])
    assert fast.timer.timeout_s == 2  # a quick hub: the floor, as before


def test_timeouts_out_of_order_are_a_config_error() -> None:
    from pydantic import ValidationError

    from edge_agent.config import OutboxConfig

    with pytest.raises(ValidationError, match=r"ack_timeout_max_s \(5\) must be at least"):
        OutboxConfig(ack_timeout_s=10, ack_timeout_max_s=5)


def test_sqlite_epoch_is_kept_by_the_file_and_new_for_a_new_file(tmp_path: Path) -> None:
    """The epoch names the id sequence: the hub restarts its expected seq only when it changes."""
    first = SqliteStore(tmp_path / "a.sqlite", 10)
    epoch = first.epoch
    first.close()
    again = SqliteStore(tmp_path / "a.sqlite", 10)
    other = SqliteStore(tmp_path / "b.sqlite", 10)
    assert again.epoch == epoch
    assert other.epoch != epoch
    assert MemoryStore(10).epoch != MemoryStore(10).epoch
    again.close()
    other.close()


def result(i: int) -> Outbound:
    payload = encode(
        InferResult(
            model="m", model_version="1", where="edge", latency_ms=1.0, output={}, msg_id=f"m{i}"
        )
    )
    return Outbound(f"t/{i}", payload, label="result", msg_id=f"m{i}")


async def sent_after(link: FakeLink, task: OutboxTask, n: int) -> list[Delivery | None]:
    """Run the task until the link has `n` messages; their delivery stamps."""
    runner = asyncio.create_task(task.run())
    try:
        async with asyncio.timeout(5):
            while len(link.published) < n:
                link.changed.clear()
                await link.changed.wait()
    finally:
        runner.cancel()
    return [decode(InferResult, m.payload).delivery for m in link.published]


async def test_hub_acked_messages_carry_their_place_in_the_stream() -> None:
    """With hub acks each message says its seq and the oldest still held (`since`), so the hub
    can keep this device's order; with PUBACK ones nothing is stamped (the device deletes on
    PUBACK, so a hub that held a message back would lose it)."""
    store = MemoryStore(100)
    link = FakeLink()
    task = OutboxTask(Outbox(store, window=10), link, hub_acks=True)
    for i in (1, 2, 3):
        task.put(result(i))
    first = await sent_after(link, task, 3)
    task.acked(["m1"])
    task.put(result(4))
    later = await sent_after(link, task, 4)
    assert [(d.seq, d.since, d.epoch) for d in first if d] == [
        (1, 1, store.epoch),
        (2, 1, store.epoch),
        (3, 1, store.epoch),
    ]
    assert later[3] == Delivery(epoch=store.epoch, seq=4, since=2)

    plain = FakeLink()
    task = OutboxTask(Outbox(MemoryStore(100), window=10), plain, hub_acks=False)
    task.put(result(1))
    assert await sent_after(plain, task, 1) == [None]
