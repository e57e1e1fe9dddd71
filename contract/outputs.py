"""Shapes of `InferResult.output` per task, shared by edge pipelines and the hub."""

from pydantic import BaseModel, ConfigDict, Field


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


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

    @property
    def confidence(self) -> float:
        return max((f.score for f in self.faces), default=0.0)


class WakeWordOutput(_Output):
    detected: bool
    wake_word: str | None = Field(default=None, description="id of the detected word")
    probability: float = Field(ge=0, le=1, description="highest probability over the clip")
    probabilities: dict[str, float] = Field(
        default_factory=dict, description="highest probability per wake word model"
    )
    duration_s: float = Field(ge=0)


class TabularOutput(_Output):
    label: int
    label_name: str | None = None
    probabilities: list[float]
