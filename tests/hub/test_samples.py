"""Hard samples: an infer request carrying the device's own answer is kept with both answers,
bounded per device, listed for readers, reviewed by admins; bad input is refused clearly."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cloud_hub.core.config import Settings
from contract import EdgeAnswer
from contract.http import EDGE_ANSWER
from contract.inference import edge_answer_header
from contract.outputs import Face, FaceDetectionOutput
from tests.hub.conftest import Hub, basic, running_hub

pytestmark = pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    indirect=True,
)  # fmt: skip

CLOUD_BOX = (10.0, 10.0, 50.0, 50.0)


class FakeDetector:
    """Finds one face, always at CLOUD_BOX: the hub's answer in these tests."""

    version = "cloud-1"

    def run(self, payload: bytes) -> FaceDetectionOutput:
        return FaceDetectionOutput(faces=[Face(box=CLOUD_BOX, score=0.99)], image_size=(100, 100))


@pytest.fixture
async def hub(make_settings: Callable[..., Settings]) -> AsyncIterator[Hub]:
    settings = make_settings(cloud_models=["face-detect-cloud"], samples_per_device=2)
    async for h in running_hub(settings, pipeline_loader=lambda _m: FakeDetector()):
        yield h


def _answer(*boxes: tuple[float, float, float, float]) -> str:
    faces = [{"box": list(b), "score": 0.6} for b in boxes]
    output = {"faces": faces, "image_size": [100, 100]}
    return edge_answer_header(
        EdgeAnswer(model="face-detect-lite", model_version="lite-1", output=output, confidence=0.6)
    )


async def _ask(hub: Hub, auth: dict[str, str], body: bytes, answer: str | None) -> Any:
    headers = {"content-type": "image/jpeg", **auth, **({EDGE_ANSWER: answer} if answer else {})}
    return await hub.client.post("/api/v1/infer/face-detect-cloud", content=body, headers=headers)


async def test_a_cascade_request_is_kept_with_both_answers(hub: Hub) -> None:
    creds = await hub.enroll("cam-1")
    auth = basic("cam-1", creds["device_secret"])
    r = await _ask(hub, auth, b"jpeg-one", _answer())  # the device saw no face
    assert r.status_code == 200, r.text
    assert (await _ask(hub, auth, b"jpeg-two", _answer((11, 9, 50, 51)))).status_code == 200
    assert (await _ask(hub, auth, b"jpeg-plain", None)).status_code == 200  # no answer: not kept
    page = (await hub.client.get("/api/v1/samples", headers=hub.admin)).json()
    assert page["total"] == 2
    newest, oldest = page["items"]
    assert (newest["agree"], oldest["agree"]) == (True, False)
    assert oldest["edge_output"]["faces"] == []
    assert oldest["cloud_output"]["faces"][0]["box"] == list(CLOUD_BOX)
    assert (oldest["device_id"], oldest["model"], oldest["cloud_model"]) == (
        "cam-1", "face-detect-lite", "face-detect-cloud",
    )  # fmt: skip
    assert (oldest["cloud_version"], oldest["review"], oldest["label"]) == (
        "cloud-1", "unreviewed", None,
    )  # fmt: skip
    content = await hub.client.get(f"/api/v1/samples/{oldest['id']}/content", headers=hub.admin)
    assert (content.content, content.headers["content-type"]) == (b"jpeg-one", "image/jpeg")
    only = await hub.client.get("/api/v1/samples?disagree=true", headers=hub.admin)
    assert [s["id"] for s in only.json()["items"]] == [oldest["id"]]


async def test_each_device_keeps_its_newest_samples(hub: Hub) -> None:
    creds = await hub.enroll("cam-2")
    auth = basic("cam-2", creds["device_secret"])
    for body in (b"a", b"b", b"c"):
        assert (await _ask(hub, auth, body, _answer())).status_code == 200
    items = (await hub.client.get("/api/v1/samples", headers=hub.admin)).json()["items"]
    assert len(items) == 2  # samples_per_device
    first_id = items[-1]["id"] - 1
    gone = await hub.client.get(f"/api/v1/samples/{first_id}/content", headers=hub.admin)
    assert gone.status_code == 404  # the input of the trimmed sample went with it
    kept = await hub.client.get(f"/api/v1/samples/{items[-1]['id']}/content", headers=hub.admin)
    assert kept.content == b"b"


async def test_review_accepts_the_cloud_or_corrects_the_label(hub: Hub) -> None:
    creds = await hub.enroll("cam-3")
    auth = basic("cam-3", creds["device_secret"])
    await _ask(hub, auth, b"x", _answer())
    await _ask(hub, auth, b"y", _answer())
    second, first = (await hub.client.get("/api/v1/samples", headers=hub.admin)).json()["items"]
    url = f"/api/v1/samples/{first['id']}/review"
    r = await hub.client.put(url, json={"review": "accepted"}, headers=hub.admin)
    assert r.status_code == 200, r.text
    assert (r.json()["review"], r.json()["label"]) == ("accepted", first["cloud_output"])
    fixed = {"faces": [], "image_size": [100, 100]}
    url = f"/api/v1/samples/{second['id']}/review"
    r = await hub.client.put(url, json={"review": "corrected", "label": fixed}, headers=hub.admin)
    assert (r.status_code, r.json()["label"]) == (200, fixed)
    assert r.json()["reviewed_at"] is not None
    bad = await hub.client.put(url, json={"review": "corrected"}, headers=hub.admin)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "bad_review")
    missing = await hub.client.put(
        "/api/v1/samples/999999/review", json={"review": "accepted"}, headers=hub.admin
    )
    assert missing.status_code == 404
    reviewed = await hub.client.get("/api/v1/samples?review=corrected", headers=hub.admin)
    assert [s["id"] for s in reviewed.json()["items"]] == [second["id"]]


async def test_bad_answers_and_wrong_callers_are_refused(hub: Hub) -> None:
    creds = await hub.enroll("cam-4")
    auth = basic("cam-4", creds["device_secret"])
    for bad in ("%%%not-base64", edge_answer_header(EdgeAnswer(
        model="m", model_version="1", output={})).replace("e", "A")):  # fmt: skip
        r = await _ask(hub, auth, b"z", bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "bad_edge_answer"
    assert (await hub.client.get("/api/v1/samples", headers=auth)).status_code == 403
    assert (await hub.client.get("/api/v1/samples")).status_code == 401
    r = await hub.client.put("/api/v1/samples/1/review", json={"review": "accepted"}, headers=auth)
    assert r.status_code == 403


async def test_a_device_opted_out_by_its_twin_gets_no_sample_kept(hub: Hub) -> None:
    creds = await hub.enroll("cam-5")
    auth = basic("cam-5", creds["device_secret"])
    r = await hub.client.put(
        "/api/v1/devices/cam-5/twin/desired",
        json={"state": {"offload": {"share_hard_samples": False}}},
        headers=hub.admin,
    )
    assert r.status_code == 200, r.text
    refused = await _ask(hub, auth, b"private", _answer())
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "samples_opted_out")
    assert (await _ask(hub, auth, b"private", None)).status_code == 200  # answering is fine
    page = await hub.client.get("/api/v1/samples?device_id=cam-5", headers=hub.admin)
    assert page.json()["total"] == 0
