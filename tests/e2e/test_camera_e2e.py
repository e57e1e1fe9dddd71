"""An agent reading a camera itself: a real `edgefleet agent` process captures an HTTP MJPEG
stream that ffmpeg serves on loopback from generated scenes with faces at known boxes, through
Mosquitto; the test only listens. Covers detection through the capture path, motion gating
(one inference per still scene), the retained snapshot, per-source health, a stream that
stops and comes back, and an unreachable camera."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from contract import ErrorCode, Topics
from edgefleet.bench.camera.scoring import scenes_found
from edgefleet.procs.camera import MjpegStream, write_frames
from models.datasets.faces import FaceSample, generate
from tests.fixtures.agents import AgentStarter, ObservedAgent
from tests.fixtures.contract import assert_follows_contract
from tests.fixtures.mqtt import MqttProbe, Received
from tests.fixtures.ports import free_port
from tests.fixtures.requires import require_models, require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.timeout(150)]

T = Topics()
DEVICE = "cam-1"
CAMERA = "front"
MODEL = "face-detect-full"  # what a camera Pi runs; the light model misses small faces
STREAM_FPS = 6
HOLD = 2  # frames per scene: the first one moves, the second is still


@pytest.fixture
def scenes() -> list[FaceSample]:
    """Frontal faces at known boxes, one per scene, 48-200 px wide on 640x480."""
    return generate(30, seed=11, sources=["astronaut"], max_faces=1, negative_fraction=0.0)


@pytest.fixture
def stream(tmp_path: Path, scenes: list[FaceSample]) -> Iterator[MjpegStream]:
    require_tools("ffmpeg")
    frames = write_frames(tmp_path / "frames", [s.jpeg for s in scenes], HOLD)
    served = MjpegStream(frames, free_port(), STREAM_FPS)
    yield served
    served.stop()


@pytest.fixture
def start_agent(observed_agents: AgentStarter) -> Any:
    def start(url: str) -> ObservedAgent:
        require_models(MODEL)
        camera = {"name": CAMERA, "url": url, "model": MODEL, "fps": STREAM_FPS}
        return observed_agents.start(DEVICE, (MODEL,), cameras=[camera])

    return start


def results(agent: ObservedAgent) -> list[Received]:
    return agent.on(T.result(DEVICE, MODEL))


def test_an_mjpeg_camera_finds_the_faces_once_per_scene_and_publishes_a_snapshot(
    stream: MjpegStream, scenes: list[FaceSample], start_agent: Any
) -> None:
    agent = start_agent(stream.url)
    agent.probe.wait_for(lambda m: m.topic == T.status(DEVICE) and b"online" in m.payload, 30)
    stream.start()  # the agent has been retrying: it connects as soon as ffmpeg listens
    assert stream.proc is not None
    stream.proc.wait(timeout=60)  # ffmpeg ends after the last frame (-re: real time)
    # the stream is over; the next heartbeat counts every frame the agent read
    frames = len(scenes) * HOLD

    def all_read(m: Received) -> bool:
        return m.topic == T.health(DEVICE) and m.json()["sources"][CAMERA]["frames"] >= frames

    health = agent.probe.wait_for(all_read, 15).json()["sources"][CAMERA]
    found = scenes_found(scenes, [r.payload for r in results(agent)])
    print(f"camera: {sum(found)}/{len(found)} scenes found; health {health}")
    assert sum(found) >= 0.9 * len(scenes), (found, agent.output())
    # motion gating: one inference per scene (its first frame), the still frames cost none
    assert health["inferred"] <= len(scenes) + 1, health
    assert health["motion_ratio"] == pytest.approx(1 / HOLD, abs=0.05), health
    assert all(r.json()["source_topic"] == f"camera/{CAMERA}" for r in results(agent))
    faces = [m for m in agent.probe.messages if m.topic == T.event(DEVICE, "face")]
    assert len(faces) >= 0.9 * len(scenes)
    snapshot = agent.probe.wait_for(T.snapshot(DEVICE, CAMERA))
    assert snapshot.retain is False  # live delivery; the broker keeps it retained (below)
    picture = cv2.imdecode(np.frombuffer(snapshot.payload, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    assert picture.shape == (480, 640, 3)
    late = MqttProbe(agent.probe.host, agent.probe.port).connect()
    try:
        late.subscribe(T.snapshot(DEVICE, CAMERA))
        kept = late.wait_for(T.snapshot(DEVICE, CAMERA))
        assert kept.retain
        assert cv2.imdecode(np.frombuffer(kept.payload, np.uint8), 1) is not None
    finally:
        late.close()
    assert_follows_contract(
        m for m in agent.probe.messages if m.topic != T.snapshot(DEVICE, CAMERA)
    )


def test_a_camera_that_stops_is_reported_and_read_again_when_it_returns(
    stream: MjpegStream, start_agent: Any
) -> None:
    stream.loop = True
    stream.start()
    agent = start_agent(stream.url)
    agent.probe.wait_for(lambda m: m.topic == T.result(DEVICE, MODEL), 30)
    stream.stop()
    error = agent.probe.wait_for(T.error(DEVICE), 15).json()
    assert error["code"] == ErrorCode.SOURCE_FAILED
    assert error["topic"] == f"camera/{CAMERA}"
    assert stream.url in error["error"], error

    def state(wanted: str) -> Any:
        return lambda m: (
            m.topic == T.health(DEVICE) and m.json()["sources"][CAMERA]["state"] == wanted
        )

    reported = agent.probe.wait_for(state("connecting"), 10).json()["sources"][CAMERA]
    assert reported["last_error"], reported
    before = len(results(agent))
    stream.start()
    restarted = time.monotonic()
    # capturing again within 10 s of the stream's return (backoff at most 4 s between tries)
    agent.probe.wait_for(
        lambda m: m.topic == T.result(DEVICE, MODEL) and len(results(agent)) > before, 10
    )
    print(f"camera: results again {time.monotonic() - restarted:.1f} s after the stream returned")
    health = agent.probe.wait_for(state("capturing"), 10).json()["sources"][CAMERA]
    assert health["reconnects"] >= 1, health
    assert health.get("last_error") is None, health


def test_an_unreachable_camera_is_an_error_and_the_agent_keeps_serving(
    tmp_path: Path, start_agent: Any
) -> None:
    url = f"http://127.0.0.1:{free_port()}/nothing.mjpg"
    agent = start_agent(url)
    error = agent.probe.wait_for(T.error(DEVICE), 30).json()
    assert error["code"] == ErrorCode.SOURCE_FAILED, error
    assert "cannot open" in error["error"], error
    # requests over MQTT are still answered
    from skimage import data

    rgb = data.astronaut()  # type: ignore[no-untyped-call]
    ok, astronaut = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    agent.probe.publish(T.infer(DEVICE, MODEL, "r1"), astronaut.tobytes(), qos=1)
    result = agent.probe.wait_for(T.result(DEVICE, MODEL, "r1"), 20).json()
    assert result["output"]["faces"], result
    health = agent.probe.wait_for(
        lambda m: m.topic == T.health(DEVICE) and m.json()["sources"][CAMERA]["reconnects"] >= 2
    ).json()["sources"][CAMERA]
    assert health["state"] == "connecting", health
    assert health["frames"] == 0, health
    errors = [m for m in agent.probe.messages if m.topic == T.error(DEVICE)]
    assert len(errors) == 1, [str(e) for e in errors]  # the same failure is reported once
