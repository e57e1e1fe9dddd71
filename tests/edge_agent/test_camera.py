"""Cameras read by the agent: configuration, the motion gate, frame checks, snapshots, and a
`CameraSource` playing a real video file through OpenCV into a recording `submit`.
(End to end over MJPEG with a real agent process: tests/e2e/test_camera_e2e.py.)"""

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from contract import ErrorCode, Kind, SourceState, Topics
from edge_agent.config import check_models, parse_config
from edge_agent.errors import ConfigError, Rejected
from edge_agent.messages import Outbound
from edge_agent.runner import Job
from edge_agent.sources.base import UnsupportedFormat
from edge_agent.sources.camera import CameraSource, checked_frame, draw_snapshot, redacted
from edge_agent.sources.config import CameraConfig
from edge_agent.sources.motion import MotionGate

BASE: dict[str, Any] = {"device_id": "cam-01", "models": ["face-detect-lite"]}
T = Topics()


def camera(**fields: Any) -> dict[str, Any]:
    return {"name": "porch", "url": "rtsp://cam.local/stream", "model": "face-detect-lite"} | fields


# ------------------------------------------------------------------------------ configuration


def test_stream_device_and_file_cameras_are_accepted(tmp_path: Path) -> None:
    video = tmp_path / "door.mp4"
    video.write_bytes(b"not checked here: the agent reports what it cannot read")
    config = parse_config(
        BASE
        | {
            "cameras": [
                camera(),
                camera(name="usb", url="/dev/video0", pixel_format="MJPG"),
                camera(name="file", url=str(video)),
                camera(name="mjpeg", url="http://user:pw@10.0.0.9/mjpg"),
            ]
        }
    )
    first = config.cameras[0]
    assert (first.fps, first.motion_threshold, first.snapshot) == (5.0, 0.005, True)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"url": "ftp://x/y"}, "use /dev/videoN, a file path or one of"),
        ({"url": "/no/such/file.mp4"}, "is not a file"),
        ({"pixel_format": "MJPG"}, "V4L2 cameras (/dev/videoN) only"),
        ({"url": "/dev/video0", "pixel_format": "MJPEG"}, "FourCC"),
        ({"name": "front door"}, "invalid camera name"),
        ({"model": "wakeword-lite"}, "not one of models"),
        ({"fps": 0}, "cameras.0.fps"),
        ({"colour": True}, "cameras.0.colour"),
    ],
)
def test_bad_cameras_are_refused_naming_the_setting(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE | {"cameras": [camera(**change)]}, "agent.yaml")
    assert words in str(info.value)


def test_camera_names_must_differ() -> None:
    with pytest.raises(ConfigError, match="names must differ"):
        parse_config(BASE | {"cameras": [camera(), camera(url="rtsp://other/stream")]})


def test_a_camera_needs_a_face_detector_from_the_catalogue() -> None:
    config = parse_config(
        {**BASE, "models": ["face-detect-lite", "wakeword-lite"]}
        | {"cameras": [camera(model="wakeword-lite")]}
    )
    with pytest.raises(
        ConfigError, match=r"cameras\.0\.model: 'wakeword-lite' is a wakeword model"
    ):
        check_models(config)


# ------------------------------------------------------------------------------ pure pieces


def scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    return cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST)


def test_motion_gate_passes_changes_and_holds_back_a_still_scene() -> None:
    gate = MotionGate(threshold=0.01)
    a, b = scene(1), scene(2)
    assert gate.moved(a)  # nothing to compare with yet
    assert not gate.moved(a.copy())
    noisy = np.clip(a.astype(np.int16) + np.random.default_rng(0).integers(-6, 7, a.shape), 0, 255)
    assert not gate.moved(noisy.astype(np.uint8))  # sensor noise is not motion
    assert gate.moved(b)
    assert gate.changed > 0.5
    gate.reset()
    assert gate.moved(b)  # after a reconnect the first frame goes through
    always = MotionGate(threshold=0)
    assert always.moved(a)
    assert always.moved(a)


def test_frames_are_8_bit_colour_or_grey() -> None:
    grey = np.zeros((4, 6), np.uint8)
    assert checked_frame(grey).shape == (4, 6, 3)
    colour = np.zeros((4, 6, 3), np.uint8)
    assert checked_frame(colour) is colour
    for bad in (
        np.zeros((4, 6), np.uint16),
        np.zeros((4, 6, 4), np.uint8),
        np.zeros((1, 900), np.float32),
    ):
        with pytest.raises(UnsupportedFormat, match="unsupported pixel format"):
            checked_frame(bad)


def test_passwords_never_leave_the_device() -> None:
    assert redacted("rtsp://admin:hunter2@10.0.0.9:554/s") == "rtsp://admin:***@10.0.0.9:554/s"
    assert redacted("http://10.0.0.9/mjpg") == "http://10.0.0.9/mjpg"


def test_a_snapshot_is_the_frame_with_the_boxes_drawn() -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
    drawn = draw_snapshot(jpeg, {"faces": [{"box": [20, 30, 80, 90], "score": 0.9}]})
    picture = cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    assert picture.shape == frame.shape
    assert picture[30, 50, 1] > 150  # the green top edge of the box
    assert picture[60, 50].max() < 40  # inside stays as it was


def test_the_snapshot_topic_is_part_of_the_contract() -> None:
    topic = T.snapshot("cam-01", "porch")
    assert topic == "edgefleet/v1/cam-01/snapshot/porch"
    parsed = T.parse(topic)
    assert (parsed.kind, parsed.device, parsed.name) == (Kind.SNAPSHOT, "cam-01", "porch")


# ------------------------------------------------------------------------------ a real file


def write_video(path: Path, scenes: list[int], hold: int, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (320, 240))
    assert writer.isOpened()
    for seed in scenes:
        for _ in range(hold):
            writer.write(scene(seed))
    writer.release()
    return path


class Recorder:
    """Stands in for the dispatcher: answers each job at once with one face."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.errors: list[tuple[str, Rejected]] = []
        self.published: list[Outbound] = []
        self.changed = asyncio.Event()

    def submit(self, job: Job) -> None:
        self.jobs.append(job)
        assert job.on_answer is not None
        job.on_answer({"faces": [{"box": [10, 10, 60, 60], "score": 0.8}]})
        self.changed.set()

    def reject(self, topic: str, rejected: Rejected) -> None:
        self.errors.append((topic, rejected))
        self.changed.set()

    def publish(self, message: Outbound) -> None:
        self.published.append(message)
        self.changed.set()


def source(config: CameraConfig, recorder: Recorder) -> CameraSource:
    return CameraSource(
        config,
        topics=T,
        device="cam-01",
        submit=recorder.submit,
        reject=recorder.reject,
        publish=recorder.publish,
    )


async def until(recorder: Recorder, done: Any) -> None:
    """Wait for `done()`: re-checked on every call the camera makes and every 50 ms (the
    capture thread's counters change without a call)."""
    async with asyncio.timeout(20.0):
        while not done():
            recorder.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recorder.changed.wait(), 0.05)


async def test_a_video_file_plays_and_each_scene_goes_to_the_model_once(tmp_path: Path) -> None:
    video = write_video(tmp_path / "door.avi", scenes=[1, 2, 3, 4], hold=5)
    config = CameraConfig(name="door", url=str(video), model="m", fps=25, loop=False)
    recorder = Recorder()
    cam = source(config, recorder)
    task = asyncio.create_task(cam.run())
    try:
        await until(recorder, lambda: cam.counters.frames >= 20 and recorder.published)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    health = cam.health()
    assert health.state is SourceState.CAPTURING
    assert health.inferred == len(recorder.jobs) == 4  # motion: one per scene, not 20
    assert health.motion_ratio == pytest.approx(4 / 20, abs=0.06)
    assert all(job.source_topic == "camera/door" and job.rid is None for job in recorder.jobs)
    first = cv2.imdecode(np.frombuffer(recorder.jobs[0].payload, np.uint8), cv2.IMREAD_COLOR)
    assert first is not None
    assert first.shape == (240, 320, 3)
    snapshot = recorder.published[0]
    assert (snapshot.topic, snapshot.retain) == (T.snapshot("cam-01", "door"), True)


async def test_a_camera_that_cannot_be_opened_is_reported_once(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a video")
    recorder = Recorder()
    cam = source(CameraConfig(name="door", url=str(bad), model="m"), recorder)
    task = asyncio.create_task(cam.run())
    try:
        await until(recorder, lambda: cam.counters.reconnects >= 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(recorder.errors) == 1
    topic, rejected = recorder.errors[0]
    assert (topic, rejected.code) == ("camera/door", ErrorCode.SOURCE_FAILED)
    assert "cannot open" in str(rejected)
    health = cam.health()
    assert health.state is SourceState.CONNECTING
    assert health.last_error is not None
    assert health.frames == 0


class RefusingCapture:
    """A V4L2 camera that only offers YUYV (no /dev/video device runs here)."""

    def __init__(self) -> None:
        self.released = False

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        return float(cv2.VideoWriter.fourcc(*"YUYV"))

    def release(self) -> None:
        self.released = True


def test_a_pixel_format_the_camera_does_not_offer_is_an_error_not_a_fallback() -> None:
    capture = RefusingCapture()
    with pytest.raises(UnsupportedFormat, match="does not offer pixel format MJPG"):
        CameraSource._ask_format(capture, "MJPG")  # type: ignore[arg-type]
    assert capture.released


async def test_a_lost_answer_does_not_silence_the_camera(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_agent.sources import camera as camera_module

    monkeypatch.setattr(camera_module, "ANSWER_TIMEOUT_S", 0.3)
    video = write_video(tmp_path / "door.avi", scenes=list(range(1, 41)), hold=1, fps=20)
    recorder = Recorder()
    jobs: list[Job] = []
    silent = recorder.changed

    def submit(job: Job) -> None:  # takes the frame, never answers
        jobs.append(job)
        silent.set()

    cam = CameraSource(
        CameraConfig(name="door", url=str(video), model="m", fps=20),
        topics=T,
        device="cam-01",
        submit=submit,
        reject=recorder.reject,
        publish=recorder.publish,
    )
    task = asyncio.create_task(cam.run())
    try:
        await until(recorder, lambda: len(jobs) >= 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert cam.counters.dropped > 0  # moving frames while the first one was out
