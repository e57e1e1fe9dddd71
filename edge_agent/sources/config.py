"""The `cameras:` section of the agent's configuration (docs/agent.md, "Cameras")."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract.topics import SEGMENT_RE

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
"""Camera URLs read as network streams (by FFmpeg inside OpenCV); other URLs are paths."""
V4L2_PREFIX = "/dev/video"


def _source_name(kind: str, value: str) -> str:
    """A source's name goes into topics and `source_topic`: one topic level."""
    if not SEGMENT_RE.fullmatch(value):
        raise ValueError(f"invalid {kind} name {value!r}: letters, digits, '_', '.', '-'")
    return value


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

    @property
    def is_v4l2(self) -> bool:
        return self.url.startswith(V4L2_PREFIX)

    @property
    def is_file(self) -> bool:
        """A video file (validated to exist), not a device or a stream."""
        return not self.is_v4l2 and not self.url.startswith(STREAM_SCHEMES)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _source_name("camera", value)

    @model_validator(mode="after")
    def _source(self) -> "CameraConfig":
        if self.pixel_format is not None:
            if not self.is_v4l2:
                raise ValueError("pixel_format applies to V4L2 cameras (/dev/videoN) only")
            if len(self.pixel_format) != 4 or not self.pixel_format.isascii():
                raise ValueError(
                    f"pixel_format must be a FourCC such as 'MJPG', got {self.pixel_format!r}"
                )
        if not self.is_file:
            return self  # a device or a stream may come and go: the agent reports it at run time
        if "://" in self.url:
            raise ValueError(
                f"camera url {self.url!r}: use /dev/videoN, a file path or one of {STREAM_SCHEMES}"
            )
        if not Path(self.url).is_file():
            raise ValueError(f"camera url {self.url!r} is not a file")
        return self


class MicrophoneConfig(BaseModel):
    """A microphone the agent listens to itself through ALSA (docs/agent.md, "Microphones")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Its name in health (`sources.{name}`) and results (`source_topic` `microphone/{name}`)."""
    device: str = "default"
    """ALSA capture device: `default`, `plughw:1,0` (card 1, converted to 16 kHz mono), or a
    PCM defined in `~/.asoundrc` or `/etc/asound.conf`."""
    model: str
    """Model id (one of `models`, a wake-word model) that listens."""
    window_s: float = Field(default=2.0, ge=0.5, le=10)
    """Seconds of audio the model hears each time: longer than the wake phrase."""
    hop_s: float = Field(default=0.1, ge=0.05, le=5)
    """How often a new window goes to the model while there is sound. Each window is scored
    from scratch, and whether a weak phrase fires depends on where the window starts: at 0.5 s
    a marginal "hey mycroft" was missed at 1 start in 10, at 0.1 s at none (4 ms of CPU per
    2 s window for wakeword-lite on the development machine)."""
    min_level_dbfs: float = Field(default=-50.0, le=0)
    """A window whose loudest hop is quieter than this (RMS, dB below full scale) is silence
    and does not go to the model; -120 sends everything."""
    refractory_s: float = Field(default=2.0, ge=0)
    """After a detection, the windows that still hold the same phrase are not sent."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _source_name("microphone", value)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not value.strip() or value.startswith("-"):
            raise ValueError(f"invalid ALSA device {value!r}")
        return value

    @model_validator(mode="after")
    def _hop(self) -> "MicrophoneConfig":
        if self.hop_s > self.window_s:
            raise ValueError(f"hop_s ({self.hop_s}) is longer than window_s ({self.window_s})")
        return self
