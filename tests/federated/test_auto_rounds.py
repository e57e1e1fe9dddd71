"""Automatic rounds: the hub starts a round by itself once enough live devices have sent
enough new hard samples of the model (real hub over HTTP and SQLite, the real engine-fault-cloud
model answering the cascade's questions)."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cloud_hub.core.clock import utcnow
from cloud_hub.db import tables as t
from cloud_hub.federated.auto import ready_devices
from cloud_hub.schemas.federated import AutoRound
from contract import EdgeAnswer
from contract.http import EDGE_ANSWER
from contract.inference import edge_answer_header
from models.datasets.engine import engine_profile, generate_records
from tests.federated.conftest import ADMIN, LiveHub, basic, hub_settings, serve

DEADLINE_S = 10  # no device trains here: each round fails at its deadline
RULE = {"round": {"min_clients": 2, "deadline_s": DEADLINE_S}, "min_new_samples": 3,
        "min_devices": 2, "min_interval_s": 0}  # fmt: skip
DEVICES = ("engine-00", "engine-01", "engine-02")


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[LiveHub]:
    async for live in _hub(tmp_path, [RULE]):
        yield live


@pytest.fixture
async def hub_without_rules(tmp_path: Path) -> AsyncIterator[LiveHub]:
    """The same hub, starting no round by itself: `ready_devices` is asked directly."""
    async for live in _hub(tmp_path, []):
        yield live


async def _hub(tmp_path: Path, rules: list[dict[str, Any]]) -> AsyncIterator[LiveHub]:
    settings = hub_settings(tmp_path, cloud_models=["engine-fault-cloud"], fl_auto_rounds=rules)
    async for live in serve(settings):
        for device in DEVICES:
            await live.enroll(device)
        with live.app.state.db.session(write=True) as s:  # live devices (state machine: tests/hub)
            for device in DEVICES:
                row = s.get(t.Device, device)
                assert row is not None
                row.state = "online"
        yield live


async def ask(hub: LiveHub, device: str, n: int) -> None:
    """`n` unsure readings the device's cascade asks the hub about (kept as hard samples)."""
    answer = EdgeAnswer(model="engine-fault", model_version="seed-1", confidence=0.4,
                        output={"label": 0, "probabilities": [0.4, 0.3, 0.2, 0.1]})  # fmt: skip
    headers = {"content-type": "application/json", EDGE_ANSWER: edge_answer_header(answer),
               **basic(device, hub.secrets[device])}  # fmt: skip
    for record in generate_records(engine_profile(3, seed=9), n):
        record.pop("fault_status")
        r = await hub.client.post(
            "/api/v1/infer/engine-fault-cloud", content=json.dumps(record), headers=headers
        )
        assert r.status_code == 200, r.text


def ready(hub: LiveHub) -> list[str] | None:
    with hub.app.state.db.session(write=False) as s:
        return ready_devices(s, AutoRound.model_validate(RULE), utcnow())


async def nth_round(hub: LiveHub, n: int) -> dict[str, Any]:
    """The `n`th round (1-based) once it exists."""
    async with asyncio.timeout(30):
        while True:
            listed = (await hub.client.get("/api/v1/fl/rounds", headers=ADMIN)).json()
            if len(listed) >= n:
                return dict(sorted(listed, key=lambda r: r["id"])[n - 1])
            await asyncio.sleep(0.1)


def participants(body: dict[str, Any]) -> list[str]:
    return sorted(p["device_id"] for p in body["participants"])


@pytest.mark.slow
@pytest.mark.long  # make test-long: make test is at its 15-minute budget (deadlines of 10 s)
async def test_a_round_starts_once_enough_devices_sent_enough_new_samples(hub: LiveHub) -> None:
    await ask(hub, "engine-00", 3)
    await ask(hub, "engine-01", 2)
    assert ready(hub) is None  # one device ready, two needed
    await ask(hub, "engine-01", 1)
    first = await nth_round(hub, 1)
    assert participants(first) == ["engine-00", "engine-01"]
    assert first["config"]["devices"] == ["engine-00", "engine-01"]
    # while it is under way no other starts, however many samples come in ...
    await ask(hub, "engine-02", 3)
    await ask(hub, "engine-00", 3)
    assert ready(hub) is None
    assert (await hub.wait_round(first["id"], "failed", within=DEADLINE_S + 20))[
        "state"
    ] == "failed"
    # ... and once it is over, what was sent before it started no longer counts (engine-01)
    second = await nth_round(hub, 2)
    assert participants(second) == ["engine-00", "engine-02"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"round": {"model": "face-detect-lite"}}, "has no trainable part"),
        ({"round": {"devices": ["engine-00"]}}, "chooses its devices"),
        ({"min_new_samples": 0}, "greater than or equal to 1"),
        ({"every_s": 5}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_rule_is_refused_at_start_up(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AutoRound.model_validate(rule)


def test_rules_come_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cloud_hub.core.config import Settings

    monkeypatch.setenv("EDGEFLEET_FL_AUTO_ROUNDS", json.dumps([RULE]))
    settings = Settings(data_dir=tmp_path, admin_api_key="efk_" + "k" * 32)
    assert [r.min_new_samples for r in settings.fl_auto_rounds] == [3]
    monkeypatch.setenv("EDGEFLEET_FL_AUTO_ROUNDS", json.dumps([{"round": {"model": "nope"}}]))
    with pytest.raises(ValidationError, match="no trainable part"):
        Settings(data_dir=tmp_path, admin_api_key="efk_" + "k" * 32)
    monkeypatch.setenv("EDGEFLEET_FL_AUTO_ROUNDS", json.dumps([{"min_new_samples": 600}]))
    with pytest.raises(ValidationError, match="could never start a round"):
        Settings(data_dir=tmp_path, admin_api_key="efk_" + "k" * 32, samples_per_device=500)


async def test_a_healthy_rule_counts_only_devices_inside_their_bands(
    hub_without_rules: LiveHub,
) -> None:
    """`round.health: healthy` leaves out a degraded device however many samples it sent; the
    round it starts names its devices (the rule chose them) and keeps the rest of `round`."""
    hub = hub_without_rules
    with hub.app.state.db.session(write=True) as s:
        row = s.get(t.Device, "engine-02")
        assert row is not None
        row.state = "degraded"
    for device in DEVICES:
        await ask(hub, device, 3)
    rule = AutoRound.model_validate({**RULE, "round": {**RULE["round"], "health": "healthy"}})
    with hub.app.state.db.session(write=False) as s:
        assert ready_devices(s, rule, utcnow()) == ["engine-00", "engine-01"]
        assert ready_devices(s, AutoRound.model_validate(RULE), utcnow()) == list(DEVICES)
    created = rule.create(["engine-00", "engine-01"])
    assert created.devices == ["engine-00", "engine-01"]
    assert (created.health, created.deadline_s) == ("live", DEADLINE_S)
