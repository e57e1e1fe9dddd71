"""What `edgefleet bench camera` measures, and its targets."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from edgefleet.procs.broker import BROKERS

STILL_CPU_MAX = 0.30  # a still scene costs < 30 % of the CPU of a moving one
FOUND_MIN = 0.90  # share of face scenes found through the capture path
SCENARIOS = ("still", "moving")


@dataclass
class CameraBenchConfig:
    model: str = "face-detect-full"
    fps: float = 10.0  # the stream's rate and the camera's cap: every frame is looked at
    seconds: float = 20.0  # measured window per scenario
    warmup_s: float = 3.0
    scenes: int = 60  # labelled scenes of the accuracy pass
    broker: str = "auto"
    seed: int = 11
    plots: bool = True

    def validate(self) -> None:
        from models.catalogue import FACE_DETECTION, load_catalogue

        catalogue = load_catalogue()
        if self.model not in catalogue or catalogue.get(self.model).task != FACE_DETECTION:
            raise ValueError(
                f"--model must be a face detector of the catalogue, not {self.model!r}"
            )
        if shutil.which("ffmpeg") is None:
            raise ValueError("ffmpeg is not installed (apt-get install ffmpeg)")
        if self.broker not in ("auto", *BROKERS):
            raise ValueError(f"--broker must be auto or one of {list(BROKERS)}")
        if not 0 < self.fps <= 30 or self.seconds <= 0 or self.warmup_s < 0 or self.scenes < 1:
            raise ValueError(
                "--fps must be in (0, 30], --seconds > 0, --warmup >= 0, --scenes >= 1"
            )
