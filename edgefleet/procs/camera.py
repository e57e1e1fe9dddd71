"""A camera stand-in: `ffmpeg` serving JPEG frames as an HTTP MJPEG stream on loopback, the
way an IP camera's `/video.mjpg` does. Used by the camera tests and `edgefleet bench camera`.

Frames are written as numbered JPEG files and copied into the stream without re-encoding
(`-c:v copy`), so byte-identical files are a perfectly still scene. `-re` paces the stream at
its frame rate; `-listen 1` serves one client, and ffmpeg exits when it leaves or the frames
end (unless looping)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PATTERN = "%04d.jpg"


def write_frames(folder: Path, jpegs: Sequence[bytes], hold: int = 1) -> Path:
    """Each JPEG `hold` times in a row, numbered from 0, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, jpeg in enumerate(jpegs):
        for k in range(hold):
            (folder / (PATTERN % (i * hold + k))).write_bytes(jpeg)
    return folder


@dataclass
class MjpegStream:
    """`ffmpeg` serving the frames in `frames` at `fps` on `http://127.0.0.1:{port}/cam.mjpg`."""

    frames: Path
    port: int
    fps: float
    loop: bool = False
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cam.mjpg"

    def start(self) -> None:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
        argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re"]
        argv += ["-stream_loop", "-1"] if self.loop else []
        argv += ["-framerate", str(self.fps), "-i", str(self.frames / PATTERN)]
        argv += ["-c:v", "copy", "-f", "mpjpeg", "-listen", "1", self.url]
        # killed on purpose (a camera that goes away): its broken-pipe complaints are noise
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
