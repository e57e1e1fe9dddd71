"""Rounds against a real hub over HTTP and SQL; clients are `FederatedClient`s driven by the
`fl-train` commands the hub sends (MQTT is covered by tests/federated/test_agents_e2e.py)."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import create_engine, inspect, select, text

from cloud_hub.db import tables as t
from contract import FlTrainArgs
from edge_agent.config import parse_config
from edge_agent.federated import FederatedClient
from models.training import updates as wire
from models.training.engine import SHAPE
from tests.federated.conftest import ADMIN, ADMIN_KEY, LiveHub

N = SHAPE.size
# Tests of a round's mechanics turn the accuracy gate off: the clients here train on their own
# engines' readings, and the result often validates worse than the seed, which the gate
# (`max_regression`, tested on its own below) refuses to publish.
NO_GATE: dict[str, Any] = {"max_regression": None}


def client_for(hub: LiveHub, device: str, index: int) -> FederatedClient:
    config = parse_config(
        {
            "device_id": device,
            "models": ["engine-fault"],
            "hub": {"url": hub.url},
            "broker": {"username": device, "password": hub.secrets[device]},
            "federated": {
                "enabled": True,
                "training_data": "partition",
                "engine_index": index,
                "records": 300,
            },
        }
    )
    return FederatedClient(config)


async def enroll_clients(hub: LiveHub, n: int) -> dict[str, FederatedClient]:
    clients = {}
    for i in range(n):
        device = f"engine-{i:02d}"
        await hub.enroll(device)
        clients[device] = client_for(hub, device, i)
    return clients


async def start(hub: LiveHub, **config: Any) -> int:
    r = await hub.client.post("/api/v1/fl/rounds", headers=ADMIN, json=config)
    assert r.status_code == 201, r.text
    round_id: int = r.json()["id"]
    return round_id


def commands(hub: LiveHub, round_id: int, phase: str) -> dict[str, dict[str, Any]]:
    return {
        d: a
        for d, name, a in hub.sent
        if name == "fl-train" and a["round_id"] == round_id and a["phase"] == phase
    }


async def test_a_device_listed_twice_is_a_clear_422(live_hub: LiveHub) -> None:
    """Found by the API fuzzer: it was an IntegrityError (500) on the participants table."""
    await enroll_clients(live_hub, 1)
    r = await live_hub.client.post(
        "/api/v1/fl/rounds", headers=ADMIN, json={"devices": ["engine-00", "engine-00"]}
    )
    assert r.status_code == 422, r.text
    assert "devices listed more than once: engine-00" in r.text


async def test_sync_round_publishes_a_signed_version_and_deploys_it(live_hub: LiveHub) -> None:
    # Prepare
    clients = await enroll_clients(live_hub, 3)
    round_id = await start(
        live_hub,
        devices=sorted(clients),
        min_clients=3,
        local_epochs=2,
        quantization="int8",
        **NO_GATE,
    )
    # Execute
    for device, args in commands(live_hub, round_id, "train").items():
        answer = await clients[device].handle(args)
        assert answer.upload_status == 202, answer
    body = await live_hub.wait_round(round_id, "published", "failed")
    # Assert
    assert body["state"] == "published", body["reason"]
    assert body["base_version"] == "seed-1"
    assert body["result_version"] == "v2"
    assert body["updates"] == {"accepted": 3, "rejected": 0}
    assert body["metrics"]["clients"] == 3
    assert body["aggregation_ms"] > 0
    versions = (
        await live_hub.client.get("/api/v1/models/engine-fault/versions", headers=ADMIN)
    ).json()
    assert [v["version"] for v in versions] == ["v2", "seed-1"]
    assert versions[0]["created_by_round"] == round_id
    assert versions[0]["parent"] == "seed-1"
    updates = (
        await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}/updates", headers=ADMIN)
    ).json()
    assert {u["encoding"] for u in updates} == {"int8"}
    assert all(u["size_bytes"] == 20 + N for u in updates)
    deploys = [a for _, name, a in live_hub.sent if name == "model-update"]
    assert len(deploys) == 3
    assert {a["manifest"]["version"] for a in deploys} == {"v2"}


async def test_every_invalid_update_is_rejected_with_its_reason(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    # Prepare: five participants, one outsider, one unenrolled sender
    clients = await enroll_clients(live_hub, 6)
    devices = sorted(clients)[:5]
    round_id = await start(
        live_hub, devices=devices, min_clients=1, deadline_s=60, max_update_norm=20.0
    )
    url = f"/api/v1/fl/rounds/{round_id}/updates"

    def fp32(values: np.ndarray) -> bytes:
        return wire.encode_update(
            wire.WireUpdate(wire.Encoding.FP32, 10, 0.0, values.astype(np.float32))
        )

    nan = np.zeros(N)
    nan[3] = np.nan
    bad_shape = wire.encode_update(
        wire.WireUpdate(wire.Encoding.FP32, 10, 0.0, np.zeros(N - 1, np.float32))
    )
    bad_dtype = wire.HEADER.pack(wire.MAGIC, 1, 7, 0, N, 10, 0.0) + bytes(4 * N)
    cases = [
        ("engine-00", fp32(nan), "non_finite", 422),
        ("engine-01", bad_shape, "wrong_shape", 422),
        ("engine-02", bad_dtype, "wrong_dtype", 422),
        ("engine-03", fp32(np.full(N, 5.0)), "norm_too_large", 422),
        ("engine-04", b"\0" * (live_hub.settings.fl_update_max_bytes + 1), "oversize", 413),
        ("engine-05", fp32(np.zeros(N)), "not_participant", 403),
    ]
    # Execute + Assert: each refused with its reason
    for device, body, reason, status in cases:
        r = await live_hub.client.post(url, content=body, headers=live_hub.auth(device))
        assert (r.status_code, r.json()["error"]["code"]) == (status, reason), r.text
    r = await live_hub.client.post(
        url,
        content=fp32(np.zeros(N)),
        headers={
            "Authorization": "Basic " + __import__("base64").b64encode(b"ghost:nope").decode()
        },
    )
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unenrolled")
    # a good update, then the same device again: duplicate
    good = fp32(np.full(N, 0.01))
    r = await live_hub.client.post(url, content=good, headers=live_hub.auth("engine-00"))
    assert r.status_code == 202, r.text
    r = await live_hub.client.post(url, content=good, headers=live_hub.auth("engine-00"))
    assert r.json()["error"]["code"] == "duplicate"
    # Assert: recorded with reasons, only the good one accepted and never a rejected one used
    rows = (
        await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}/updates", headers=ADMIN)
    ).json()
    reasons = sorted(u["reason"] for u in rows if not u["accepted"])
    assert reasons == sorted(
        [
            "non_finite",
            "wrong_shape",
            "wrong_dtype",
            "norm_too_large",
            "oversize",
            "not_participant",
            "unenrolled",
            "duplicate",
        ]
    )
    assert [u["device_id"] for u in rows if u["accepted"]] == ["engine-00"]
    engine = create_engine(live_hub.settings.sqlalchemy_url)
    with engine.connect() as conn:
        blobs = (
            conn.execute(select(t.FlUpdate.blob).where(t.FlUpdate.accepted.is_(False)))
            .scalars()
            .all()
        )
    engine.dispose()
    assert all(b is None for b in blobs)


async def test_outlying_norm_is_excluded_at_aggregation(live_hub: LiveHub) -> None:
    clients = await enroll_clients(live_hub, 5)
    round_id = await start(live_hub, devices=sorted(clients), min_clients=3, deploy="none")
    url = f"/api/v1/fl/rounds/{round_id}/updates"
    rng = np.random.default_rng(0)
    for i, device in enumerate(sorted(clients)):
        scale = 30.0 if i == 4 else 1.0
        values = rng.normal(0, 0.02, N) * scale
        body = wire.encode_update(
            wire.WireUpdate(wire.Encoding.FP32, 100, 0.0, values.astype(np.float32))
        )
        r = await live_hub.client.post(url, content=body, headers=live_hub.auth(device))
        assert r.status_code == 202
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["state"] == "published"
    rows = (
        await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}/updates", headers=ADMIN)
    ).json()
    assert [(u["device_id"], u["reason"]) for u in rows if not u["accepted"]] == [
        ("engine-04", "outlying_norm")
    ]


async def _round_of_negated_models(hub: LiveHub, **config: Any) -> dict[str, Any]:
    """Three clients each upload the update that turns the base weights w into -w: a result
    that validates far worse than its base (22 % against 67 % on the held-out set)."""
    from cloud_hub.federated.finalize import training_engine

    clients = await enroll_clients(hub, 3)
    round_id = await start(hub, devices=sorted(clients), min_clients=3, **config)
    base = training_engine().seed_params().astype(np.float32)
    body = wire.encode_update(wire.WireUpdate(wire.Encoding.FP32, 100, 0.0, -2 * base))
    for device in sorted(clients):
        r = await hub.client.post(
            f"/api/v1/fl/rounds/{round_id}/updates", content=body, headers=hub.auth(device)
        )
        assert r.status_code == 202, r.text
    result: dict[str, Any] = await hub.wait_round(round_id, "published", "failed")
    return result


async def test_a_result_worse_than_its_base_is_refused_by_the_gate(live_hub: LiveHub) -> None:
    body = await _round_of_negated_models(live_hub)
    assert body["state"] == "failed"
    assert "not published: validation accuracy" in body["reason"]
    assert "seed-1 stays the model's latest version" in body["reason"]
    metrics = body["metrics"]
    assert metrics["validation_accuracy"] < metrics["base_validation_accuracy"] - 0.01
    versions = (
        await live_hub.client.get("/api/v1/models/engine-fault/versions", headers=ADMIN)
    ).json()
    assert [v["version"] for v in versions] == ["seed-1"]  # nothing registered
    assert not [a for _, name, a in live_hub.sent if name == "model-update"]  # nor deployed
    # the next round goes on from the refused round's weights, not from the base again
    first = body["id"]
    second = await start(live_hub, devices=["engine-00", "engine-01"], min_clients=2)
    r = await live_hub.client.get(
        f"/api/v1/fl/rounds/{second}/weights", headers=live_hub.auth("engine-00")
    )
    assert r.status_code == 200, r.text
    from cloud_hub.federated.finalize import training_engine

    seed = training_engine().seed_params().astype(np.float32)
    assert_allclose(np.frombuffer(r.content, np.float32), -seed, rtol=1e-5)
    state = (await live_hub.client.get(f"/api/v1/fl/rounds/{second}", headers=ADMIN)).json()
    assert state["metrics"]["continued_from_round"] == first
    assert state["base_version"] == "seed-1"  # the gate still compares with the published one


async def test_the_gate_can_be_turned_off_per_round(live_hub: LiveHub) -> None:
    body = await _round_of_negated_models(live_hub, max_regression=None, deploy="none")
    assert body["state"] == "published", body["reason"]
    assert body["metrics"]["validation_accuracy"] < body["metrics"]["base_validation_accuracy"]


@pytest.mark.parametrize("quantization", ["none", "int8"])
async def test_secure_aggregation_stores_only_the_sum(live_hub: LiveHub, quantization: str) -> None:
    """Masked updates, 64-bit fixed point or (int8) whole steps of secure_range/127 in a 32-bit
    ring: the hub's sum is the sample-weighted mean (within a step per value with int8), and
    no stored bytes resemble any device's update."""
    # Prepare
    clients = await enroll_clients(live_hub, 3)
    round_id = await start(
        live_hub,
        devices=sorted(clients),
        min_clients=3,
        secure_aggregation=True,
        quantization=quantization,
        deploy="none",
        **NO_GATE,
    )
    for device, args in commands(live_hub, round_id, "keys").items():
        await clients[device].handle(args)
    # Execute
    trains = commands(live_hub, round_id, "train")
    assert set(trains) == set(clients)
    assert all(len(a["peers"]) == 3 for a in trains.values())
    weights = np.frombuffer(
        (await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}/weights", headers=ADMIN)).content,
        "<f4",
    ).copy()
    for device, args in trains.items():
        assert (await clients[device].handle(args)).upload_status == 202
    body = await live_hub.wait_round(round_id, "published", "failed")
    # Assert: the result is the sample-weighted mean of the updates
    assert body["state"] == "published", body["reason"]
    samples = {d: len(c.data) for d, c in clients.items()}
    expected = sum(
        c.last_update * samples[d]
        for d, c in clients.items()  # type: ignore[operator]
    ) / sum(samples.values())
    engine = create_engine(live_hub.settings.sqlalchemy_url)
    with engine.connect() as conn:
        final = conn.execute(select(t.FlRound.weights).where(t.FlRound.id == round_id)).scalar()
        assert final is not None
        step = wire.int8_step(1.0) if quantization == "int8" else 1e-5
        assert_allclose(np.frombuffer(final, "<f4") - weights, expected, atol=step)
        # no stored bytes anywhere decode to (or near) any individual update
        stored: list[bytes] = []
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                stored += [v for v in row if isinstance(v, bytes)]
    engine.dispose()
    individual = [c.last_update for c in clients.values()]
    for blob in stored:
        for dtype in ("<f4", "<u8", "<u4"):
            if len(blob) % np.dtype(dtype).itemsize:
                continue
            arr = np.frombuffer(blob, dtype)
            if dtype == "<u8":
                values = wire.from_fixed(arr)
            elif dtype == "<u4":
                values = wire.from_ring(arr, wire.Encoding.MASKED32, wire.int8_step(1.0))
            else:
                values = arr.astype(np.float64)
            for update in individual:
                assert update is not None
                if values.size == update.size:
                    assert not np.allclose(values, update, atol=1e-4)
                    assert not np.allclose(values, update * 300, atol=1e-2)
    rows = (
        await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}/updates", headers=ADMIN)
    ).json()
    assert {u["encoding"] for u in rows} == {"masked32" if quantization == "int8" else "masked"}
    assert {u["size_bytes"] for u in rows} == {20 + (4 if quantization == "int8" else 8) * N}
    assert all(u["norm"] is None for u in rows)


async def test_a_masked_update_of_another_ring_or_step_is_refused(live_hub: LiveHub) -> None:
    """An int8 secure round sums 32-bit steps of secure_range/127: a 64-bit fixed-point update,
    or steps of another size, would corrupt the sum; each is refused with the reason and
    nothing joins the sum (the round still takes the right kind)."""
    clients = await enroll_clients(live_hub, 3)
    round_id = await start(
        live_hub, devices=sorted(clients), min_clients=3, secure_aggregation=True,
        quantization="int8", secure_range=0.5, deploy="none", **NO_GATE,
    )  # fmt: skip
    for device, args in commands(live_hub, round_id, "keys").items():
        await clients[device].handle(args)
    trains = commands(live_hub, round_id, "train")
    assert {a["secure_range"] for a in trains.values()} == {0.5}
    url = f"/api/v1/fl/rounds/{round_id}/updates"
    wide = wire.WireUpdate(wire.Encoding.MASKED, 300, 0.0, np.zeros(N, np.uint64))
    coarse = wire.WireUpdate(
        wire.Encoding.MASKED32, 300, wire.int8_step(1.0), np.zeros(N, np.uint32)
    )
    for device, update, why in (
        ("engine-00", wide, "this round takes masked32 updates (quantization int8), not masked"),
        ("engine-01", coarse, "the round's are 0.0039"),
    ):
        r = await live_hub.client.post(
            url, content=wire.encode_update(update), headers=live_hub.auth(device)
        )
        assert (r.status_code, r.json()["error"]["code"]) == (422, "wrong_dtype"), r.text
        assert why in r.json()["error"]["message"]
    assert (await clients["engine-02"].handle(trains["engine-02"])).upload_status == 202
    with live_hub.app.state.db.session(write=False) as s:
        row = s.get(t.FlRound, round_id)
        assert row is not None
        assert row.accumulator is not None
        assert len(row.accumulator) == 4 * N  # the one good update's ring, 32-bit


async def unmask_commands(hub: LiveHub, round_id: int) -> dict[str, dict[str, Any]]:
    """The `unmask` commands of the round, once the hub has sent them (after its deadline)."""
    body = await hub.wait_round(round_id, "unmasking", "published", "failed")
    assert body["state"] == "unmasking", body
    for _ in range(200):  # sent right after the transaction that set the state
        if sent := commands(hub, round_id, "unmask"):
            return sent
        await asyncio.sleep(0.05)
    raise AssertionError(f"round {round_id} is unmasking but sent no `unmask` command")


async def secure_round_with_dropouts(
    hub: LiveHub, n: int, uploaders: int, **config: Any
) -> tuple[int, dict[str, FederatedClient], np.ndarray]:
    """A secure round of `n` clients where all exchange keys and only the first `uploaders`
    (by id) upload: the others drop out after the key exchange. (round, clients, weights)."""
    clients = await enroll_clients(hub, n)
    round_id = await start(
        hub, devices=sorted(clients), secure_aggregation=True, deploy="none", **NO_GATE, **config
    )
    for device, args in commands(hub, round_id, "keys").items():
        await clients[device].handle(args)
    weights = np.frombuffer(
        (await hub.client.get(f"/api/v1/fl/rounds/{round_id}/weights", headers=ADMIN)).content,
        "<f4",
    ).copy()
    trains = commands(hub, round_id, "train")
    for device in sorted(trains)[:uploaders]:
        assert (await clients[device].handle(trains[device])).upload_status == 202
    return round_id, clients, weights


@pytest.mark.parametrize("quantization", ["none", "int8"])
async def test_secure_aggregation_survives_a_client_dropping_after_the_key_exchange(
    live_hub: LiveHub, quantization: str
) -> None:
    round_id, clients, weights = await secure_round_with_dropouts(
        live_hub, 4, 3, min_clients=2, deadline_s=1.0, quantization=quantization
    )
    # the deadline passes: the three survivors are asked for their secrets with engine-03
    unmasks = await unmask_commands(live_hub, round_id)
    assert sorted(unmasks) == ["engine-00", "engine-01", "engine-02"]
    assert all(a["dropped"] == ["engine-03"] for a in unmasks.values())
    body = (await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}", headers=ADMIN)).json()
    assert body["state"] == "unmasking"
    for device, args in unmasks.items():
        assert (await clients[device].handle(args)).upload_status == 204
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["state"] == "published", body["reason"]
    # the survivors' sample-weighted mean, exactly as if engine-03 had never been invited
    survivors = {d: c for d, c in clients.items() if d != "engine-03"}
    samples = {d: len(c.data) for d, c in survivors.items()}
    expected = sum(c.last_update * samples[d] for d, c in survivors.items())  # type: ignore[operator]
    engine = create_engine(live_hub.settings.sqlalchemy_url)
    with engine.connect() as conn:
        final = conn.execute(select(t.FlRound.weights).where(t.FlRound.id == round_id)).scalar()
        states = dict(
            conn.execute(
                select(t.FlParticipant.device_id, t.FlParticipant.state).where(
                    t.FlParticipant.round_id == round_id
                )
            ).all()
        )
    engine.dispose()
    assert final is not None
    step = wire.int8_step(1.0) if quantization == "int8" else 1e-5
    assert_allclose(
        np.frombuffer(final, "<f4") - weights, expected / sum(samples.values()), atol=step
    )
    assert states == {"engine-00": "unmasked", "engine-01": "unmasked", "engine-02": "unmasked",
                      "engine-03": "dropped"}  # fmt: skip
    # the dropped client's late upload is refused: its masks are now known to the hub
    late = await clients["engine-03"].handle(commands(live_hub, round_id, "train")["engine-03"])
    assert late.upload_status == 403
    assert late.answer is not None
    assert late.answer["error"]["code"] == "not_participant"


async def test_a_secure_round_with_one_survivor_fails_without_revealing_it(
    live_hub: LiveHub,
) -> None:
    round_id, _, _ = await secure_round_with_dropouts(live_hub, 3, 1, min_clients=1, deadline_s=1.0)
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["state"] == "failed"
    assert "engine-01, engine-02 dropped out after the key exchange and only 1" in body["reason"]
    assert "at least 2 so that no single update is revealed" in body["reason"]
    assert not commands(live_hub, round_id, "unmask")
    engine = create_engine(live_hub.settings.sqlalchemy_url)
    with engine.connect() as conn:
        assert conn.execute(select(t.FlRound.accumulator)).scalar() is None
    engine.dispose()


async def test_a_survivor_that_does_not_unmask_fails_the_round_at_the_deadline(
    live_hub: LiveHub,
) -> None:
    round_id, clients, _ = await secure_round_with_dropouts(
        live_hub, 3, 2, min_clients=2, deadline_s=1.0
    )
    unmasks = await unmask_commands(live_hub, round_id)
    await clients["engine-00"].handle(unmasks["engine-00"])  # engine-01 never answers
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["state"] == "failed"
    assert body["reason"].startswith("secure aggregation: engine-01 did not send the secrets")


async def test_unmasking_refuses_wrong_peers_and_a_device_refuses_to_stand_alone(
    live_hub: LiveHub,
) -> None:
    round_id, clients, _ = await secure_round_with_dropouts(
        live_hub, 3, 2, min_clients=2, deadline_s=1.0
    )
    unmasks = await unmask_commands(live_hub, round_id)
    url = f"/api/v1/fl/rounds/{round_id}/unmask"
    auth = live_hub.auth("engine-00")
    secret = "A" * 43 + "="  # 32 bytes of base64
    r = await live_hub.client.post(url, headers=auth, json={"secrets": {"engine-01": secret}})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "wrong_peers"), r.text
    for bad in ("c2hvcnQ=", "é" * 44):  # too short; not ASCII (a 500 the API fuzzer found)
        r = await live_hub.client.post(url, headers=auth, json={"secrets": {"engine-02": bad}})
        assert (r.status_code, r.json()["error"]["code"]) == (422, "bad_secret"), r.text
    r = await live_hub.client.post(
        url, headers=live_hub.auth("engine-02"), json={"secrets": {"engine-02": secret}}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_survivor"), r.text
    # a device never reveals the secrets with every peer: its own update would be bare
    alone = FlTrainArgs.model_validate(
        {**unmasks["engine-00"], "dropped": ["engine-01", "engine-02"]}
    )
    with pytest.raises(RuntimeError, match="refusing to unmask, no other participant is left"):
        await clients["engine-00"].handle(alone)


async def test_async_round_takes_a_late_straggler_with_staleness(live_hub: LiveHub) -> None:
    # Prepare: three clients, buffer of two; the straggler downloads the weights first
    clients = await enroll_clients(live_hub, 3)
    round_id = await start(
        live_hub,
        devices=sorted(clients),
        min_clients=2,
        mode="async",
        buffer_size=2,
        deploy="none",
        **NO_GATE,
    )
    trains = commands(live_hub, round_id, "train")
    straggler = "engine-02"
    old_weights, old_step = await clients[straggler].fetch_weights(trains[straggler]["weights_url"])
    assert old_step == 0
    # Execute: the two fast ones make step 1 ...
    for device in ("engine-00", "engine-01"):
        assert (await clients[device].handle(trains[device])).upload_status == 202
    body = await live_hub.wait_round(round_id, "training")
    assert body["step"] == 1
    # ... then the straggler arrives, computed from step 0
    args = FlTrainArgs.model_validate(trains[straggler])
    x, y, _ = clients[straggler].training_set()
    update, _metrics = clients[straggler].local_update(args, old_weights, x, y)
    r = await live_hub.client.post(
        trains[straggler]["upload_url"],
        content=update,
        headers={**live_hub.auth(straggler), "X-Edgefleet-Base-Step": "0"},
    )
    assert r.status_code == 202, r.text
    body = await live_hub.wait_round(round_id, "published", "failed")
    # Assert
    assert body["state"] == "published", body["reason"]
    assert body["step"] == 2
    rows = (
        await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}/updates", headers=ADMIN)
    ).json()
    assert {u["device_id"]: u["staleness"] for u in rows} == {
        "engine-00": 0,
        "engine-01": 0,
        "engine-02": 1,
    }
    assert all(u["aggregated"] for u in rows)


@pytest.mark.parametrize("privacy", [{"clip_norm": 0.5, "noise_multiplier": 0.8}])
async def test_dp_parameters_are_recorded_with_the_round(
    live_hub: LiveHub, privacy: dict[str, float]
) -> None:
    clients = await enroll_clients(live_hub, 2)
    round_id = await start(
        live_hub, devices=sorted(clients), min_clients=2, privacy=privacy, deploy="none"
    )
    for device, args in commands(live_hub, round_id, "train").items():
        assert args["clip_norm"] == 0.5
        await clients[device].handle(args)
    body = await live_hub.wait_round(round_id, "published", "failed")
    assert body["privacy"]["enabled"] is True
    assert body["privacy"]["noise_multiplier"] == 0.8
    assert 0 < body["privacy"]["epsilon_round"] < float("inf")
    for client in clients.values():
        assert client.last_update is not None
        assert float(np.linalg.norm(client.last_update)) <= 0.5 + 1e-5


async def test_round_fails_cleanly_without_enough_candidates(live_hub: LiveHub) -> None:
    await enroll_clients(live_hub, 1)
    round_id = await start(live_hub, min_clients=2)  # nobody is online: no candidates
    body = await live_hub.wait_round(round_id, "failed")
    assert "min_clients 2" in body["reason"]
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("flags", "stored"),
    [
        ([], {"max_regression": 0.01, "deploy": "all"}),
        (["--no-gate"], {"max_regression": None}),
        (
            ["--deploy", "canary", "--canary-percent", "25", "--canary-window", "60"],
            {"deploy": "canary", "canary": {"percent": 25.0, "window_s": 60.0}},
        ),
        (["--tag", "line-1", "--site", "plant-2"], {"tag": "line-1", "site": "plant-2"}),
        ([], {"health": "live"}),
        (["--health", "healthy"], {"health": "healthy"}),
        (
            ["--secure", "--int8", "--secure-range", "0.5"],
            {"secure_aggregation": True, "quantization": "int8", "secure_range": 0.5},
        ),
    ],
)
async def test_fl_start_sends_the_gate_and_rollout_settings(
    live_hub: LiveHub, flags: list[str], stored: dict[str, Any]
) -> None:
    """`edgefleet fl start` (a real process against the served hub): the gate is on unless
    `--no-gate`, the result goes to all unless `--deploy`; the round keeps the settings."""
    cli = str(Path(sys.executable).with_name("edgefleet"))
    args = [cli, "fl", "start", "--hub", live_hub.url, "--key", ADMIN_KEY, *flags]
    done = await asyncio.to_thread(
        subprocess.run, args, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    round_id = json.loads(done.stdout)["id"]
    r = await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}", headers=ADMIN)
    config = r.json()["config"]
    got = {k: config[k] for k in stored}
    if "canary" in stored:
        got["canary"] = {k: config["canary"][k] for k in stored["canary"]}
    assert got == stored


@pytest.mark.parametrize(
    ("privacy", "field"),
    [
        ({"clip_norm": 1.96e261, "noise_multiplier": 1.7976931348623155e308}, "noise_multiplier"),
        ({"clip_norm": 1e9, "noise_multiplier": 1.0}, "clip_norm"),
    ],
)
async def test_privacy_beyond_any_use_is_a_422_not_a_500(
    live_hub: LiveHub, privacy: dict[str, float], field: str
) -> None:
    """Found by the API fuzzer: a noise multiplier of 1.8e308 overflowed the round's epsilon
    (a 500), and would have made the noise itself infinite."""
    r = await live_hub.client.post("/api/v1/fl/rounds", headers=ADMIN, json={"privacy": privacy})
    assert r.status_code == 422, r.text
    assert field in r.text
    assert (await live_hub.client.get("/api/v1/fl/rounds", headers=ADMIN)).json() == []


async def test_a_round_for_a_model_without_a_trainable_part_is_a_422(live_hub: LiveHub) -> None:
    r = await live_hub.client.post(
        "/api/v1/fl/rounds", headers=ADMIN, json={"model": "face-detect-lite"}
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "not_trainable"
    assert "'face-detect-lite' has no trainable part" in error["message"]
    assert "engine-fault" in error["message"]
    rounds = (await live_hub.client.get("/api/v1/fl/rounds", headers=ADMIN)).json()
    assert rounds == []  # nothing was created


def test_a_rounds_deploy_setting_becomes_a_registry_deployment() -> None:
    from pydantic import ValidationError

    from cloud_hub.schemas.federated import RoundCreate
    from cloud_hub.schemas.registry import DeploymentCreate

    canary = RoundCreate(deploy="canary", canary={"percent": 20, "window_s": 30})
    assert canary.deployment("v3") == DeploymentCreate(
        version="v3", target="canary", canary_percent=20, window_s=30, promote=True
    )
    assert RoundCreate().deployment("v3") == DeploymentCreate(version="v3")
    assert RoundCreate(deploy="none").deployment("v3") is None
    with pytest.raises(ValidationError, match="percent"):
        RoundCreate(canary={"percent": 0})
    with pytest.raises(ValidationError, match="extra"):
        RoundCreate(canary={"percent": 5, "windw_s": 1})


@pytest.mark.parametrize(
    ("choose", "picked"),
    [
        ({"tag": "line-1"}, ["engine-00", "engine-01"]),
        ({"site": "plant-2"}, ["engine-01", "engine-02"]),
        ({"tag": "line-1", "site": "plant-2"}, ["engine-01"]),
        ({"site": "plant-2", "health": "healthy"}, ["engine-01"]),
        ({"health": "healthy"}, ["engine-00", "engine-01"]),
    ],
)
async def test_participants_are_chosen_by_tag_site_and_health_among_live_devices(
    live_hub: LiveHub, choose: dict[str, str], picked: list[str]
) -> None:
    from cloud_hub.db import tables as t

    places = [("line-1", "plant-1"), ("line-1", "plant-2"), ("line-2", "plant-2"), ("line-1", None)]
    for i, (tag, site) in enumerate(places):
        await live_hub.enroll(f"engine-{i:02d}", tags=[tag], **({"site": site} if site else {}))
    # 00 and 01 online, 02 degraded (live, out of its healthy bands), 03 not connected
    with live_hub.app.state.db.session(write=True) as s:
        for i, state in enumerate(("online", "online", "degraded")):
            device = s.get(t.Device, f"engine-{i:02d}")
            assert device is not None
            device.state = state
    round_id = await start(live_hub, min_clients=1, **choose)
    body = (await live_hub.client.get(f"/api/v1/fl/rounds/{round_id}", headers=ADMIN)).json()
    assert sorted(p["device_id"] for p in body["participants"]) == picked
    assert body["config"] | choose == body["config"]


@pytest.mark.parametrize("choose", [{"tag": "line-1"}, {"health": "healthy"}])
async def test_devices_and_a_tag_or_health_together_are_a_422(
    live_hub: LiveHub, choose: dict[str, str]
) -> None:
    r = await live_hub.client.post(
        "/api/v1/fl/rounds", headers=ADMIN, json={"devices": ["engine-00"], **choose}
    )
    assert r.status_code == 422, r.text
    assert "not both" in r.text
    r = await live_hub.client.post("/api/v1/fl/rounds", headers=ADMIN, json={"health": "fit"})
    assert r.status_code == 422, r.text
    assert "'live' or 'healthy'" in r.text
