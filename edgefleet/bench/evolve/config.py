"""What `edgefleet bench evolve` simulates: rounds, devices, readings, the cascade's band."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgefleet.bench.report import DEFAULT_OUT

TEST_SEED = 3  # held_out(seed=3): engines neither training nor the hub's gate (seed 1) uses
FLEET_SEED = 30_000  # the devices' own engines (the seed model: 10_000, the hub's: 20_000)
TIMED_INVOKES = 2000  # per model, for the device latency figure


@dataclass
class EvolveBenchConfig:
    out: Path = DEFAULT_OUT
    rounds: int = 10
    devices: int = 10
    readings: int = 200  # new readings per device and round
    band: float = 0.6  # the cascade's band high: the bench offload's engine band
    keep: int = 2000  # hard samples a device keeps (newest)
    spot_checks: float = 0.1  # the agent's `offload.pipelines.<m>.spot_checks`
    local_epochs: int = 5
    learning_rate: float = 0.1
    vision: bool = True  # also the vision task (a few minutes: the hub's model runs per image)
    vision_images: int = 10  # new images per device and round
    vision_test: int = 200  # held-out test images (bench offload's, seed 0)
    vision_band: float = 0.3  # unsure: a candidate's face probability within this of 0.5
    vision_epochs: int = 10
    vision_lr: float = 0.05
    voice: bool = True  # also the voice task (espeak-ng clips; ~1 min once they are cached)
    voice_clips: int = 20  # new clips per device and round
    voice_test: int = 500  # held-out test clips (bench offload's, seed 0)
    voice_band: float = 0.45  # unsure: the judge's P within this of 0.5
    voice_epochs: int = 50
    voice_lr: float = 0.1
    plots: bool = True
    max_regression: float | None = field(default_factory=lambda: _round_default())
    """The gate's margin: a real round's default (`RoundCreate.max_regression`); None: no gate."""

    def validate(self) -> None:
        if min(self.rounds, self.devices, self.readings, self.keep, self.local_epochs) < 1:
            raise ValueError("--rounds, --devices, --readings, --keep and --epochs must be >= 1")
        if min(self.vision_images, self.vision_test, self.vision_epochs) < 1:
            raise ValueError("--vision-images and --vision-test must be >= 1")
        if min(self.voice_clips, self.voice_test, self.voice_epochs) < 1:
            raise ValueError("--voice-clips and --voice-test must be >= 1")
        if not 0 < self.voice_band < 0.5:
            raise ValueError("--voice-band must be in (0, 0.5)")
        if not 0 < self.vision_band < 0.5:
            raise ValueError("--vision-band must be in (0, 0.5)")
        if not 0 < self.band < 1:
            raise ValueError("--band must be in (0, 1)")
        if not 0 <= self.spot_checks <= 1:
            raise ValueError("--spot-checks must be in [0, 1]")


def _round_default() -> float | None:
    from cloud_hub.schemas.federated import RoundCreate

    value: float | None = RoundCreate.model_fields["max_regression"].default
    return value
