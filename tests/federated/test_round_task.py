"""Aggregation runs in the round's own task, not in the last uploader's request: the upload is
answered while aggregation is still held, a crash in aggregation fails the round with its
reason (the uploads were all 202), and a round left `aggregating` without a task (the hub
stopped in between) is taken up by the ticker."""

import asyncio
import threading
from typing import Any

import pytest

from cloud_hub.federated.finalize import Finalizer
from tests.federated.conftest import ADMIN, LiveHub
from tests.federated.test_rounds import NO_GATE, commands, enroll_clients, start


async def upload_all(hub: LiveHub, n: int, **config: Any) -> int:
    """Start a round of `n` clients (no accuracy gate: these tests are about when the work
    runs) and have every one of them train and upload (202)."""
    clients = await enroll_clients(hub, n)
    round_id = await start(hub, devices=sorted(clients), min_clients=n, **NO_GATE, **config)
    for device, args in commands(hub, round_id, "train").items():
        assert (await clients[device].handle(args)).upload_status == 202
    return round_id


async def state(hub: LiveHub, round_id: int) -> dict[str, Any]:
    r = await hub.client.get(f"/api/v1/fl/rounds/{round_id}", headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_last_upload_is_answered_before_aggregation_ends(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: aggregation waits until the test lets it go
    entered, gate = threading.Event(), threading.Event()
    aggregate = Finalizer._aggregate

    def held(self: Finalizer, *args: Any, **kwargs: Any) -> None:
        entered.set()
        assert gate.wait(30)
        aggregate(self, *args, **kwargs)

    monkeypatch.setattr(Finalizer, "_aggregate", held)
    try:
        # Execute: every upload is answered (202) ...
        round_id = await upload_all(live_hub, 3)
        # Assert: ... while the round's own task is still aggregating
        assert await asyncio.to_thread(entered.wait, 10)
        assert (await state(live_hub, round_id))["state"] == "aggregating"
        assert f"fl-round-{round_id}" in {t.get_name() for t in asyncio.all_tasks()}
    finally:
        gate.set()
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["state"] == "published", body["reason"]
    assert body["result_version"] == "v2"
    assert len([a for _, name, a in live_hub.sent if name == "model-update"]) == 3


async def test_a_crash_in_aggregation_fails_the_round_with_its_reason(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: Finalizer, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Finalizer, "_aggregate", crash)
    round_id = await upload_all(live_hub, 2)  # every upload was a 202
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["state"] == "failed"
    assert body["reason"] == "aggregation failed: RuntimeError: out of memory"
    assert body["result_version"] is None
    assert not [a for _, name, a in live_hub.sent if name == "model-update"]


async def test_a_round_left_aggregating_is_taken_up_by_the_ticker(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: no task gets the round, as when the hub stops right after marking it
    tasks = live_hub.app.state.rounds.tasks
    monkeypatch.setattr(tasks, "signal", lambda *a, **k: None)
    round_id = await upload_all(live_hub, 2, deploy="none")
    await asyncio.sleep(5 * live_hub.settings.fl_tick_s)
    assert (await state(live_hub, round_id))["state"] == "aggregating"
    # Execute: signals work again (a restarted hub)
    monkeypatch.undo()
    # Assert
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["state"] == "published", body["reason"]
    assert body["metrics"]["clients"] == 2
