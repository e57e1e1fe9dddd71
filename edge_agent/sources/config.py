"""The `cameras:` section of the agent's configuration (docs/agent.md, "Cameras")."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract.topics import SEGMENT_RE

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
"""Camera URLs read as network streams (by FFmpeg inside OpenCV); other URLs are paths."""
V4L2_PREFIX = "/dev/video"


class CameraConfig(BaseModel):
    """A camera the agent captures from itself (docs/agent.md, "Cameras")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Its name in topics (`{d}/snapshot/{name}`), health (`sources.{name}`) and results
    (`source_topic` `camera/{name}`)."""
    url: str
    """`/dev/videoN` (V4L2), an `rtsp://`, `rtsps://`, `http://` or `https://` stream (MJPEG,
    H.264: whatever FFmpeg reads), or a video file, played at its own frame rate."""
    model: str
    """Model id (one of `models`, a face detector) that looks at the frames."""
    fps: float = Field(default=5.0, gt=0, le=60)
    """Most frames per second looked at; the others are read and discarded."""
    motion_threshold: float = Field(default=0.005, ge=0, le=1)
    """Share of the picture (downscaled, blurred) that must change since the last frame looked
    at for a frame to go to the model; 0 sends every frame."""
    snapshot: bool = True
    """Publish `{d}/snapshot/{name}`, retained: a JPEG of the last frame the model found
    something on, the boxes drawn (Home Assistant shows it as an image entity)."""
    snapshot_interval_s: float = Field(default=1.0, ge=0)
    """Least time between two snapshots."""
    pixel_format: str | None = None
    """V4L2 only: the FourCC to ask the camera for (`MJPG`, `YUYV`); a camera that does not
    offer it is reported, not used in another format."""
    loop: bool = True
    """Files only: start again at the end (a demo or test camera)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SEGMENT_RE.fullmatch(value):
            raise ValueError(f"invalid camera name {value!r}: letters, digits, '_', '.', '-'")
        return value

    @model_validator(mode="after")
    def _source(self) -> "CameraConfig":
        if self.pixel_format is not None:
            if not self.url.startswith(V4L2_PREFIX):
                raise ValueError("pixel_format applies to V4L2 cameras (/dev/videoN) only")
            if len(self.pixel_format) != 4 or not self.pixel_format.isascii():
                raise ValueError(
                    f"pixel_format must be a FourCC such as 'MJPG', got {self.pixel_format!r}"
                )
        if self.url.startswith(STREAM_SCHEMES) or self.url.startswith(V4L2_PREFIX):
            return self  # a device or a stream may come and go: the agent reports it at run time
        if "://" in self.url:
            raise ValueError(
                f"camera url {self.url!r}: use /dev/videoN, a file path or one of {STREAM_SCHEMES}"
            )
        if not Path(self.url).is_file():
            raise ValueError(f"camera url {self.url!r} is not a file")
        return self
