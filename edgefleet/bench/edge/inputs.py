"""The realistic input of each model: a 640x480 face JPEG or a 1.8 s wake phrase."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchInput:
    kind: str
    payload: bytes
    description: str


def bench_input(model: str) -> BenchInput:
    """The realistic input of a model: a 640x480 face JPEG or a 1.8 s wake phrase."""
    from models.catalogue import load_catalogue

    spec = load_catalogue().get(model)
    if spec.task == "face-detection":
        from models.datasets.faces import face_image

        sample = face_image(seed=0)
        return BenchInput(
            "image",
            sample.jpeg,
            f"{sample.width}x{sample.height} JPEG, 1 face, {len(sample.jpeg)} B",
        )
    if spec.task == "wakeword":
        from models.datasets.speech import wake_clip

        clip = wake_clip("okay_nabu")
        return BenchInput(
            "audio", clip.wav, f"{clip.duration_s:.1f} s 16 kHz WAV 'okay nabu', {len(clip.wav)} B"
        )
    raise ValueError(f"no benchmark input for task {spec.task!r} of {model}")
