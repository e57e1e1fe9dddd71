"""Operator labels reach training: a hard sample an operator corrected on the samples page is
trained on with the operator's class, not the hub's answer (a real hub over HTTP and SQLite,
the real engine-fault-cloud answering the cascade's questions, a device's federated client
training on its lessons and uploading)."""

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cloud_hub.db import tables as t
from contract import EdgeAnswer
from contract.http import EDGE_ANSWER
from contract.inference import edge_answer_header
from edge_agent.config import parse_config
from edge_agent.federated import FederatedClient
from models.datasets.engine import engine_profile, generate_records
from tests.federated.conftest import ADMIN, LiveHub, basic, hub_settings, serve

MODEL = "engine-fault"
DEVICES = ("engine-00", "engine-01")


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[LiveHub]:
    async for live in serve(hub_settings(tmp_path, cloud_models=["engine-fault-cloud"])):
        for device in DEVICES:
            await live.enroll(device)
        with live.app.state.db.session(write=True) as s:
            for device in DEVICES:
                row = s.get(t.Device, device)
                assert row is not None
                row.state = "online"
        yield live


def learner(hub: LiveHub, device: str) -> FederatedClient:
    config = parse_config(
        {
            "device_id": device,
            "models": [MODEL],
            "hub": {"url": hub.url},
            "broker": {"username": device, "password": hub.secrets[device]},
            "federated": {"enabled": True, "training_data": "escalated"},
        }
    )
    return FederatedClient(config)


async def ask(hub: LiveHub, client: FederatedClient, payload: bytes) -> dict[str, Any]:
    """The device's cascade asks the hub about a reading (kept as a hard sample); the device
    keeps the hub's answer as a lesson, as its dispatcher does."""
    answer = EdgeAnswer(model=MODEL, model_version="seed-1", confidence=0.4,
                        output={"label": 0, "probabilities": [0.4, 0.3, 0.2, 0.1]})  # fmt: skip
    device = client.device
    headers = {"content-type": "application/json", EDGE_ANSWER: edge_answer_header(answer),
               **basic(device, hub.secrets[device])}  # fmt: skip
    r = await hub.client.post("/api/v1/infer/engine-fault-cloud", content=payload, headers=headers)
    assert r.status_code == 200, r.text
    output: dict[str, Any] = r.json()["output"]
    assert client.lessons is not None
    client.lessons.learn(MODEL, payload, output)
    return output


async def review(hub: LiveHub, device: str, sha: str, body: dict[str, Any]) -> None:
    listed = await hub.client.get(f"/api/v1/samples?device_id={device}", headers=ADMIN)
    sample = next(x for x in listed.json()["items"] if x["sha256"] == sha)
    r = await hub.client.put(f"/api/v1/samples/{sample['id']}/review", headers=ADMIN, json=body)
    assert r.status_code == 200, r.text


async def test_a_round_trains_on_the_operators_label_instead_of_the_hubs(hub: LiveHub) -> None:
    clients = {d: learner(hub, d) for d in DEVICES}
    records = generate_records(engine_profile(3, seed=9), 4)
    payloads = [json.dumps({k: v for k, v in r.items() if k != "fault_status"}).encode()
                for r in records]  # fmt: skip
    sha = [hashlib.sha256(p).hexdigest() for p in payloads]
    said = [await ask(hub, clients["engine-00"], p) for p in payloads[:3]]
    await ask(hub, clients["engine-01"], payloads[3])
    wrong = (said[0]["label"] + 1) % 4  # the operator's class for reading 0: not the hub's
    await review(hub, "engine-00", sha[0], {"review": "corrected", "label": {"label": wrong}})
    await review(hub, "engine-00", sha[1], {"review": "accepted"})  # the hub's label stands
    await review(hub, "engine-00", sha[2], {"review": "corrected", "label": {"faces": []}})

    r = await hub.client.post(
        "/api/v1/fl/rounds",
        headers=ADMIN,
        json={"devices": list(DEVICES), "min_clients": 2, "max_regression": None},
    )
    assert r.status_code == 201, r.text
    round_id = r.json()["id"]
    sent = {d: a for d, name, a in hub.sent if name == "fl-train" and a["round_id"] == round_id}
    # each device gets the labels of its own inputs only; a label that is no class is left out
    assert sent["engine-00"]["labels"] == {sha[0]: wrong}
    assert sent["engine-01"]["labels"] == {}

    for device, client in clients.items():
        assert (await client.handle(sent[device])).upload_status == 202
    await hub.wait_round(round_id, "published")
    updates = (await hub.client.get(f"/api/v1/fl/rounds/{round_id}/updates", headers=ADMIN)).json()
    corrected = {u["device_id"]: u["metrics"]["corrected"] for u in updates}
    assert corrected == {"engine-00": 1, "engine-01": 0}
    # what engine-00 trained on: the operator's class for reading 0, the hub's for the rest
    lessons = clients["engine-00"].lessons
    assert lessons is not None
    trained = lessons.arrays(sent["engine-00"]["labels"]).y.tolist()
    assert trained == [wrong, said[1]["label"], said[2]["label"]]
