"""The agent's own cameras: V4L2 devices, RTSP and HTTP streams, video files, read through
OpenCV's `VideoCapture` (FFmpeg inside), capped in rate, gated by motion, and fed to a model
exactly as an MQTT request is (`Dispatcher.submit`: offload and cascade apply).

Reads block, so each camera has a thread of its own; everything it hands to the agent goes
through `loop.call_soon_threadsafe`. An MJPEG stream is read without decoding: each packet is
already a JPEG, so the model gets the camera's own bytes and the motion gate a quarter-size
grey decode of them; other codecs (H.264, V4L2 raw formats) are decoded and encoded to JPEG.
At most one frame of a camera is in flight: while the
model works on one, newer moving frames are counted as dropped rather than queued, so the
answer is always about a recent picture (Frigate's choice too). A stream that fails is opened
again with tenacity's exponential backoff (at most `RETRY_MAX_S` apart); each new failure is
reported once on `error` (code `source_failed`) and stays in `health.sources` until frames
arrive again. Snapshots (a JPEG of the frame with the boxes drawn) are drawn off the loop.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import numpy.typing as npt
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from contract import Topics
from edge_agent.errors import Rejected
from edge_agent.messages import Outbound
from edge_agent.runner import Job
from edge_agent.sources.base import (
    ANSWER_TIMEOUT_S,
    Source,
    SourceError,
    UnsupportedFormat,
    retry_wait,
)
from edge_agent.sources.config import V4L2_PREFIX, CameraConfig
from edge_agent.sources.motion import MotionGate

log = logging.getLogger(__name__)
# OpenCV's own log repeats every failed open on stderr; the agent reports failures itself.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

Frame = npt.NDArray[np.uint8]

OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 4000  # a stalled stream is given up (and opened again) after this long
JPEG_QUALITY = 95  # frames are JPEG-encoded once more for the model: keep the loss small


class _Stopping(Exception):
    """The agent is stopping: leave the capture loop."""


def redacted(url: str) -> str:
    """`url` without its password, for logs, errors and health."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def checked_frame(frame: Any) -> Frame:
    """An 8-bit BGR frame from what OpenCV read; UnsupportedFormat for anything else."""
    if isinstance(frame, np.ndarray) and frame.dtype == np.uint8:
        if frame.ndim == 3 and frame.shape[2] == 3 and min(frame.shape[:2]) > 0:
            return frame
        if frame.ndim == 2 and min(frame.shape) > 1:
            return cast(Frame, cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    shape = getattr(frame, "shape", None)
    dtype = getattr(frame, "dtype", type(frame).__name__)
    raise UnsupportedFormat(
        f"unsupported pixel format: frames of {dtype} with shape {shape}; the agent reads "
        "8-bit colour or grey"
    )


def draw_snapshot(jpeg: bytes, output: dict[str, Any]) -> bytes:
    """`jpeg` again with the boxes (and scores) of a face detector's `output` drawn."""
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if picture is None:  # the model read it, so this is a bug, not bad input
        raise RuntimeError("a frame the model read does not decode")
    for face in output.get("faces") or []:
        x0, y0, x1, y1 = (round(float(v)) for v in face["box"])
        cv2.rectangle(picture, (x0, y0), (x1, y1), (0, 255, 0), 2)
        label = f"{float(face.get('score', 0.0)):.2f}"
        cv2.putText(
            picture, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0)
        )
    ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit BGR image
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class CameraSource(Source):
    """One configured camera, from its frames to `submit` and its snapshots to `publish`."""

    kind = "camera"

    def __init__(
        self,
        config: CameraConfig,
        *,
        topics: Topics,
        device: str,
        submit: Callable[[Job], None],
        reject: Callable[[str, Rejected], None],
        publish: Callable[[Outbound], None],
    ) -> None:
        super().__init__(config.name, config.model, reject)
        self.config = config
        self._snapshot_topic = topics.snapshot(device, config.name)
        self._submit, self._publish = submit, publish
        self._url = redacted(config.url)
        self._period = 1.0 / config.fps
        self._gate = MotionGate(config.motion_threshold)
        self._busy_since: float | None = None  # monotonic time a frame went to the model
        self._next_due = 0.0
        self._last_snapshot = float("-inf")
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"camera-{config.name}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    # --- the agent's side (event loop) -------------------------------------------------------
    async def run(self) -> None:
        """The camera's duty: capture until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        try:
            await self._loop.run_in_executor(self._pool, self._capture_forever)
        finally:
            self._stop.set()  # the thread leaves within one read timeout

    def _call(self, callback: Callable[..., object], *args: Any) -> None:
        """Run `callback(*args)` on the agent's loop (from the capture thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _take(self, jpeg: bytes) -> None:
        job = Job(
            self.config.model,
            None,
            self.source_topic,
            jpeg,
            time.perf_counter(),
            on_answer=lambda output: self._answered(jpeg, output),
        )
        self._submit(job)

    def _answered(self, jpeg: bytes, output: dict[str, Any] | None) -> None:
        self._busy_since = None
        if output is None or not output.get("faces") or not self.config.snapshot:
            return
        now = time.monotonic()
        if now - self._last_snapshot < self.config.snapshot_interval_s:
            return
        self._last_snapshot = now
        task = asyncio.ensure_future(self._snapshot(jpeg, output))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _snapshot(self, jpeg: bytes, output: dict[str, Any]) -> None:
        drawn = await asyncio.to_thread(draw_snapshot, jpeg, output)
        self._publish(Outbound(self._snapshot_topic, drawn, 0, True, label="snapshot"))

    # --- the capture thread -------------------------------------------------------------------
    def _capture_forever(self) -> None:
        """Sessions until stopped; the backoff starts again after every session that read."""
        while not self._stop.is_set():
            try:
                for attempt in self._retrying():
                    with attempt:
                        self._session()
            except _Stopping:
                return

    def _retrying(self) -> Retrying:
        return Retrying(
            wait=retry_wait(),
            retry=retry_if_exception_type(SourceError),
            before_sleep=self._before_retry,
            sleep=self._sleep,
            reraise=True,
        )

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopping

    def _before_retry(self, state: RetryCallState) -> None:
        failed = state.outcome.exception() if state.outcome is not None else None
        message = self.failing(failed, f" ({self._url})")
        log.warning("%s; trying again in %.1f s", message, state.upcoming_sleep)
        self._call(self.report, message)

    def _open(self) -> "cv2.VideoCapture":
        url = self.config.url
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
        timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
        if self.config.is_v4l2:
            index = url.removeprefix(V4L2_PREFIX)
            capture = cv2.VideoCapture(int(index) if index.isdigit() else url, cv2.CAP_V4L2)
        else:
            capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, timeouts)
        if not capture.isOpened():
            capture.release()
            raise SourceError("cannot open it (unreachable, not a video, or no such device)")
        if self.config.pixel_format is not None:
            self._ask_format(capture, self.config.pixel_format)
        return capture

    @staticmethod
    def _ask_format(capture: "cv2.VideoCapture", fourcc: str) -> None:
        wanted = cv2.VideoWriter.fourcc(*fourcc)
        capture.set(cv2.CAP_PROP_FOURCC, wanted)
        got = int(capture.get(cv2.CAP_PROP_FOURCC))
        if got != wanted:
            capture.release()
            given = got.to_bytes(4, "little").decode("ascii", "replace")
            raise UnsupportedFormat(
                f"the camera does not offer pixel format {fourcc} (it gave {given!r})"
            )

    @staticmethod
    def _packets(capture: "cv2.VideoCapture") -> bool:
        """Switch an FFmpeg MJPEG capture to undecoded packets (JPEGs); True if it is one."""
        if capture.getBackendName() != "FFMPEG":
            return False
        if int(capture.get(cv2.CAP_PROP_FOURCC)) != cv2.VideoWriter.fourcc(*"MJPG"):
            return False
        return bool(capture.set(cv2.CAP_PROP_FORMAT, -1))

    def _session(self) -> None:
        """Read frames until the stream ends (return) or fails (SourceError)."""
        capture = self._open()
        packets = self._packets(capture)
        is_file = self.config.is_file
        file_period = 1.0 / (capture.get(cv2.CAP_PROP_FPS) or 25.0) if is_file else 0.0
        read_any = False
        self._gate.reset()
        try:
            while not self._stop.is_set():
                ok, frame = capture.read()
                if not ok:
                    if read_any and is_file and self.config.loop:
                        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        continue
                    if read_any:
                        log.info("camera %s: the stream ended; opening it again", self.name)
                        return
                    raise SourceError(f"no frame within {READ_TIMEOUT_MS / 1000:.0f} s of opening")
                if not read_any:
                    read_any = True
                    if self.capturing():
                        log.info("camera %s (%s): capturing", self.name, self._url)
                if packets:
                    self._packet(frame.tobytes())
                else:
                    self._frame(checked_frame(frame))
                if file_period:
                    self._sleep(file_period)  # a file plays at its own rate, like a camera
        finally:
            capture.release()

    def _packet(self, jpeg: bytes) -> None:
        """One MJPEG packet read: a JPEG, gated on a cheap reduced decode and sent as it is."""
        if not self._due():
            return
        small = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_4)
        if small is None:
            raise SourceError("the stream sent a packet that is not a JPEG")
        if self._wanted(cast(Frame, small)):
            self._send(jpeg)

    def _frame(self, frame: Frame) -> None:
        """One decoded frame read: gated, then encoded to JPEG for the model."""
        if not self._due() or not self._wanted(frame):
            return
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:  # pragma: no cover - OpenCV encodes any 8-bit BGR image
            return
        self._send(buf.tobytes())

    def _due(self) -> bool:
        """Count a frame read; True when the fps cap lets it be looked at."""
        now = self.counters.read()
        if now + 0.25 * self._period < self._next_due:
            return False  # a quarter period of slack absorbs the stream's jitter
        self._next_due = max(self._next_due + self._period, now)
        self.counters.looked += 1
        return True

    def _wanted(self, picture: Frame) -> bool:
        """Past the motion gate and nothing of this camera with the model."""
        if not self._gate.moved(picture):
            return False
        self.counters.moving += 1
        since = self._busy_since
        if since is not None:
            if time.monotonic() - since < ANSWER_TIMEOUT_S:
                self.counters.dropped += 1
                return False
            log.warning("camera %s: no answer in %.0f s; going on", self.name, ANSWER_TIMEOUT_S)
        return True

    def _send(self, jpeg: bytes) -> None:
        self._busy_since = time.monotonic()
        self.counters.inferred += 1
        self._call(self._take, jpeg)
