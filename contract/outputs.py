"""Shapes of `InferResult.output` per task, shared by edge pipelines and the hub."""

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _doubt(description: str) -> Any:
    """The `doubt` field of a light model's output: its doubt head's estimate, 0-1, or None
    (models/training/doubt.py)."""
    return Field(default=None, ge=0, le=1, description=description)


class Face(_Output):
    box: tuple[float, float, float, float] = Field(
        description="x0, y0, x1, y1 in pixels of the original image"
    )
    score: float = Field(ge=0, le=1)
    keypoints: list[tuple[float, float]] = Field(
        default_factory=list, description="eyes, nose, mouth, ear tragions in pixels"
    )


class FaceDetectionOutput(_Output):
    faces: list[Face]
    image_size: tuple[int, int] = Field(description="width, height of the decoded image")
    doubt: float | None = _doubt(
        "how likely the hub's larger model would answer this image better, from "
        "the device's doubt head (its sub-threshold candidates); absent without a head"
    )

    @property
    def confidence(self) -> float:
        """What a cascade reads: 1 - doubt with a doubt head, else the best face score."""
        if self.doubt is not None:
            return 1.0 - self.doubt
        return max((f.score for f in self.faces), default=0.0)


class WakeWordOutput(_Output):
    detected: bool
    wake_word: str | None = Field(default=None, description="id of the detected word")
    probability: float = Field(ge=0, le=1, description="highest probability over the clip")
    probabilities: dict[str, float] = Field(
        default_factory=dict, description="highest probability per wake word model"
    )
    duration_s: float = Field(ge=0)
    end_s: float | None = Field(
        default=None,
        ge=0,
        description="when the detection fired, in seconds from the clip's start: about where "
        "the wake phrase ended and a command may begin; absent without a detection or where "
        "the model scores the clip as a whole",
    )
    doubt: float | None = _doubt(
        "how likely the hub's verifier would answer this clip right where the "
        "device's answer is wrong, from the device's doubt head; absent without one"
    )


class IntentOutput(_Output):
    """What a spoken command asks for (the hub's `voice-command` model, docs/voice-commands.md)."""

    understood: bool = Field(
        description="an action and a device were recognised and heard well enough (`score` "
        "at or above the model's threshold); the other fields are the recogniser's best guess "
        "either way"
    )
    intent: str | None = Field(default=None, description="turn_on | turn_off")
    target: str | None = Field(default=None, description="the device: light, fan...")
    area: str | None = Field(default=None, description="the room, when one was said")
    text: str = Field(description="the recogniser's transcript, empty when it heard no command")
    score: float | None = Field(
        default=None,
        description="how well the command fits the sound, higher is better; None: nothing "
        "recognised. voice-command: the worst-heard word's lowest per-frame acoustic "
        "log-likelihood; voice-command-whisper: the sentence's mean log-probability per token",
    )
    duration_s: float = Field(ge=0)


class TabularOutput(_Output):
    label: int
    label_name: str | None = None
    probabilities: list[float]
    doubt: float | None = _doubt(
        "how likely the hub's larger model would classify this reading right where "
        "the device's gets it wrong, from the device's doubt head; absent without one (or for "
        "a version the head was not trained for)"
    )


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two `Face.box`es (x0, y0, x1, y1): how the hub tells two
    answers apart and the benchmarks score a detection."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


IOU_SAME = 0.5
"""Two boxes are the same face at this IoU or more (the benchmarks' hits, the hub's agreement)."""


def match_faces(
    truth: Sequence[Sequence[float]], found: Sequence[Sequence[float]]
) -> tuple[int, int]:
    """(boxes of `truth` matched by one of `found` with IoU >= IOU_SAME, unmatched `found`);
    greedy, best overlap first."""
    pairs = sorted(
        ((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)),
        reverse=True,
    )
    used_t: set[int] = set()
    used_f: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < IOU_SAME:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t), len(found) - len(used_f)
