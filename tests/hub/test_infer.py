"""Cloud inference: errors, auth, micro-batching (fake pipeline), real full models if fetched."""

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest

from cloud_hub.core.config import Settings
from contract import ErrorCode, InferResult, IntentOutput, WakeWordOutput
from models.errors import InputError
from tests.fixtures.requires import require_models
from tests.hub.conftest import Hub, basic, running_hub


class FakePipeline:
    """Blocks its first run until released, so that later requests queue up."""

    version = "fake-1"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.runs = 0

    def run(self, payload: bytes) -> WakeWordOutput:
        self.runs += 1
        self.started.set()
        if self.runs == 1:
            assert self.release.wait(10)
        if payload == b"bad":
            raise InputError(ErrorCode.BAD_AUDIO, "truncated audio")
        return WakeWordOutput(
            detected=True, wake_word="okay_nabu", probability=0.9, duration_s=len(payload) / 32000
        )


@pytest.fixture
def fake() -> FakePipeline:
    return FakePipeline()


@pytest.fixture
async def hub_infer(
    make_settings: Callable[..., Settings], fake: FakePipeline
) -> AsyncIterator[Hub]:
    settings = make_settings(max_body_bytes=4096, cloud_models=["wakeword-full"])
    async for hub in running_hub(settings, pipeline_loader=lambda _m: fake):
        yield hub


WAV = {"content-type": "audio/wav"}


async def eventually(predicate: Callable[[], bool], steps: int = 2000) -> None:
    """Yield to the event loop until `predicate` holds (the requests are tasks on it)."""
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_micro_batching_groups_queued_requests(hub_infer: Hub, fake: FakePipeline) -> None:
    creds = await hub_infer.enroll("sat-1")
    auth = {**WAV, **basic("sat-1", creds["device_secret"])}

    async def call(i: int) -> Any:
        return await hub_infer.client.post(
            "/api/v1/infer/wakeword-full", content=b"x" * 64, headers=auth, params={"rid": f"r{i}"}
        )

    first = asyncio.create_task(call(0))
    assert await asyncio.to_thread(fake.started.wait, 10)  # the worker holds request 0
    rest = [asyncio.create_task(call(i)) for i in range(1, 8)]  # ... these queue behind it
    queue = hub_infer.app.state.inference._workers["wakeword-full"]._queue
    await eventually(lambda: queue.qsize() == 7)
    fake.release.set()
    responses = await asyncio.gather(first, *rest)
    assert [r.status_code for r in responses] == [200] * 8
    body = InferResult.model_validate(responses[3].json())
    assert (body.where, body.model, body.model_version, body.rid) == (
        "cloud",
        "wakeword-full",
        "fake-1",
        "r3",
    )
    assert body.output["wake_word"] == "okay_nabu"
    sizes = hub_infer.app.state.metrics.infer_batch.collect()[0].samples
    assert any(s.name.endswith("_count") and s.value == 2 for s in sizes)  # 1 + a batch of 7


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_infer_errors_are_clear(hub_infer: Hub, fake: FakePipeline) -> None:
    fake.release.set()
    creds = await hub_infer.enroll("sat-2")
    dev = basic("sat-2", creds["device_secret"])
    url = "/api/v1/infer/wakeword-full"
    cases: list[tuple[str, dict[str, str], bytes, int, str]] = [
        ("/api/v1/infer/nope", {**dev, **WAV}, b"x", 404, "unknown_model"),
        (url, {**dev, "content-type": "image/gif"}, b"x", 415, "unsupported_media_type"),
        (url, dev, b"x", 415, "unsupported_media_type"),
        (url, {**dev, **WAV}, b"x" * 5000, 413, "payload_too_large"),
        (url, {**dev, **WAV}, b"", 422, "empty_body"),
        (url, {**dev, **WAV}, b"bad", 422, "bad_audio"),
        (url, WAV, b"x", 401, "missing_credentials"),
    ]
    for path, headers, body, status, code in cases:
        r = await hub_infer.client.post(path, content=body, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (path, headers)
    viewer = await hub_infer.client.post(
        "/api/v1/api-keys", headers=hub_infer.admin, json={"name": "v"}
    )
    r = await hub_infer.client.post(
        url, content=b"x", headers={**WAV, "Authorization": f"Bearer {viewer.json()['key']}"}
    )
    assert r.status_code == 403


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_real_face_detect_full(make_settings: Callable[..., Settings]) -> None:
    require_models("face-detect-full")
    import cv2
    from skimage import data

    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    assert ok
    async for hub in running_hub(make_settings(cloud_models=["face-detect-full"])):
        creds = await hub.enroll("cam-9")
        headers = {"content-type": "image/jpeg", **basic("cam-9", creds["device_secret"])}
        r = await hub.client.post(
            "/api/v1/infer/face-detect-full", content=jpeg.tobytes(), headers=headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["where"] == "cloud"
        cloud_best = max(r.json()["output"]["faces"], key=lambda f: f["score"])
        # the edge's light model, through the same models/ code an agent runs
        from models.pipelines import load_pipeline
        from models.processing.vision import box_iou

        edge = load_pipeline("face-detect-lite").run(jpeg.tobytes())
        edge_best = max(edge.faces, key=lambda f: f.score)  # type: ignore[union-attr]
        iou = box_iou(np.array(cloud_best["box"]), np.array([edge_best.box]))[0]
        assert iou >= 0.5, (cloud_best, edge_best)
        r = await hub.client.post(
            "/api/v1/infer/face-detect-full", content=b"not an image", headers=headers
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "bad_image"


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_cloud_face_detector_batches_and_answers_as_in_process(
    make_settings: Callable[..., Settings],
) -> None:
    """Concurrent requests reach the ensemble as batches (run_batch) and each gets the answer
    the same model gives in-process; the device's light model finds fewer of the faces."""
    require_models("face-detect-full", "face-detect-lite")
    from models.datasets.faces import generate
    from models.pipelines import load_pipeline

    samples = generate(12, seed=5)
    alone = load_pipeline("face-detect-cloud")
    expected = [alone.run(s.jpeg).model_dump(mode="json") for s in samples]
    async for hub in running_hub(make_settings(cloud_models=["face-detect-cloud"])):
        creds = await hub.enroll("cam-10")
        headers = {"content-type": "image/jpeg", **basic("cam-10", creds["device_secret"])}
        url = "/api/v1/infer/face-detect-cloud"
        answers = await asyncio.gather(
            *(hub.client.post(url, content=s.jpeg, headers=headers) for s in samples)
        )
        assert [r.status_code for r in answers] == [200] * len(samples)
        assert [r.json()["output"] for r in answers] == expected
        sizes = hub.app.state.metrics.infer_batch.collect()[0].samples
        batches = [s.value for s in sizes if s.name.endswith("_count")]
        assert batches
        assert batches[0] < len(samples)
    light = load_pipeline("face-detect-lite")
    found = sum(len(o["faces"]) for o in expected)
    assert found > sum(len(light.run(s.jpeg).faces) for s in samples)  # type: ignore[attr-defined]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_hub_answers_engine_readings_with_its_own_model(
    make_settings: Callable[..., Settings],
) -> None:
    """`engine-fault-cloud` is built on first load (no files to fetch) and answers JSON."""
    import json

    from models.datasets.engine import engine_profile, generate_records

    reading = generate_records(engine_profile(0, seed=4), 1)[0]
    async for hub in running_hub(make_settings(cloud_models=["engine-fault-cloud"])):
        creds = await hub.enroll("pump-1")
        headers = {"content-type": "application/json", **basic("pump-1", creds["device_secret"])}
        url = "/api/v1/infer/engine-fault-cloud"
        r = await hub.client.post(url, content=json.dumps(reading).encode(), headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["output"]["label_name"] in {"normal", "minor", "moderate", "severe"}
        r = await hub.client.post(url, content=b'{"rpm": "fast"}', headers=headers)
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "bad_json"


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_real_voice_command(make_settings: Callable[..., Settings]) -> None:
    """A spoken command POSTed to the hub comes back as its intent; a clip that is not audio
    gets 422 bad_audio."""
    require_models("voice-command")
    from models.datasets.speech import phrase_clip

    clip = phrase_clip("turn the bedroom fan off", voice="en-us", duration_s=2.5)
    async for hub in running_hub(make_settings(cloud_models=["voice-command"])):
        creds = await hub.enroll("mic-3")
        headers = {**WAV, **basic("mic-3", creds["device_secret"])}
        r = await hub.client.post("/api/v1/infer/voice-command", content=clip.wav, headers=headers)
        assert r.status_code == 200, r.text
        out = IntentOutput.model_validate(r.json()["output"])
        assert (out.understood, out.intent, out.target, out.area) == (
            True,
            "turn_off",
            "fan",
            "bedroom",
        )
        r = await hub.client.post(
            "/api/v1/infer/voice-command", content=b"RIFF0000WAVEjunk", headers=headers
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "bad_audio"
