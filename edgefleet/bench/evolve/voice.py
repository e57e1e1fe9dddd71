"""The voice task of `edgefleet bench evolve`: devices learn a judge of their frozen
wake-word model's candidates (models/training/wake_rescorer.py) from the hub's verdicts on the
candidates they escalated.

Each clip is run once through wakeword-lite (its answer and, when it fired or its likeliest
word reached the cascade's `rescue_min_probability`, the candidate with the judge's features)
and, when asked or tested, once through the hub's wakeword-cloud. As shipped, the cascade asks
the hub about every candidate: it verifies each detection (`offload.cloud.verify`: the device
cannot tell a near miss) and asks it to rescue each near-detection (`offload.cloud.rescue`).
With a judge the device keeps a detection at P >= 0.5 and accepts a near-detection at P > 0.5,
and asks only about the candidates it is unsure of (P within `voice_band` of 0.5), plus spot
checks. A candidate the hub was asked about teaches the judge "the hub heard that word" or
not. The gate scores right clips on the hub's validation clips (generator seed 4242, the set
wakeword-cloud's thresholds were chosen on).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_agent.offload_config import PipelineOffloadConfig
from edgefleet.bench.evolve.config import EvolveBenchConfig
from edgefleet.bench.evolve.heads import Scored, Sets
from models.training.wake_rescorer import Candidate

VOICE_TEST_SEED = 0  # bench offload's clips: the gap the collaboration benchmark measures
VOICE_VALIDATION_SEED = 4242
VOICE_FLEET_SEED = 5000  # device d hears clips of seed 5000 + d
VOICE_VALIDATION = 300
RESCUE_MIN: float = PipelineOffloadConfig.model_fields["rescue_min_probability"].default
"""A silent clip is a candidate when its likeliest word reached this: the shipped cascade's
default rescue floor."""


@dataclass
class Clip:
    wav: bytes
    label: str | None  # the wake word said, None for anything else
    edge: Any  # WakeWordOutput
    candidate: Candidate | None  # None: the device heard no wake word, not even nearly
    near_miss: bool = False  # a phrase that sounds like a wake word
    cloud_word: str | None = None
    asked: bool = False

    def word(self, params: np.ndarray | None) -> str | None:
        if params is None or self.candidate is None:
            word: str | None = self.edge.wake_word  # the shipped device's own answer
            return word
        kept = self.candidate.kept(self.candidate.probability(params))
        return self.candidate.word if kept else None

    def margin(self, params: np.ndarray | None) -> float:
        """0 for a candidate the shipped cascade asks about; |P - 0.5| with a judge; 0.5
        (sure) when the device heard nothing like a wake word."""
        if self.candidate is None:
            return 0.5
        return 0.0 if params is None else abs(self.candidate.probability(params) - 0.5)


@dataclass
class Models:
    lite: Any
    cloud: Any
    cloud_s: list[float] = field(default_factory=list)

    def clip(self, wav: bytes, label: str | None, near_miss: bool = False) -> Clip:
        from models.training.wake_rescorer import candidate

        output, found = candidate(self.lite, wav, RESCUE_MIN)
        return Clip(wav, label, output, found, near_miss)

    def cloud_word(self, clip: Clip) -> str | None:
        if not clip.asked:
            t0 = time.perf_counter()
            clip.cloud_word = self.cloud.run(clip.wav).wake_word
            self.cloud_s.append(time.perf_counter() - t0)
            clip.asked = True
        return clip.cloud_word


def clips(m: Models, n: int, seed: int) -> list[Clip]:
    from models.datasets.speech import load_speech

    return [m.clip(c.wav, c.label, c.spec.kind == "near_miss") for c in load_speech(n, seed=seed)]


class VoiceTask(Sets):
    """The wake-word judge as a `heads.HeadTask`."""

    def __init__(self, cfg: EvolveBenchConfig) -> None:
        from models.pipelines import load_pipeline
        from models.training.wake_rescorer import SHAPE

        self.shape, self.band = SHAPE, cfg.voice_band
        self.epochs, self.lr = cfg.voice_epochs, cfg.voice_lr
        self.m = Models(load_pipeline("wakeword-lite"), load_pipeline("wakeword-cloud"))
        seeds = (VOICE_TEST_SEED, VOICE_VALIDATION_SEED, VOICE_FLEET_SEED)
        make = functools.partial(clips, self.m)
        super().__init__(make, seeds, (cfg.voice_test, VOICE_VALIDATION), cfg.voice_clips, cfg)
        shipped = self.scored(None)
        self.cloud_only = shipped.accuracy(shipped.cloud)

    def shipped(self) -> np.ndarray:
        from models.training.wake_rescorer import shipped_params

        return shipped_params()

    def lessons(self, item: Clip) -> tuple[np.ndarray, np.ndarray]:
        heard = self.m.cloud_word(item)
        if item.candidate is None:  # nothing like a wake word: nothing for the judge to learn
            return np.zeros((0, self.shape.inputs), np.float32), np.zeros(0, np.int64)
        return item.candidate.features[None], np.array([int(heard == item.candidate.word)])

    def gate_score(self, params: np.ndarray | None) -> float:
        return float(np.mean([c.word(params) == c.label for c in self.validation]))

    def scored(self, params: np.ndarray | None) -> Scored:
        edge = np.array([c.word(params) == c.label for c in self.test], float)
        cloud = np.array([self.m.cloud_word(c) == c.label for c in self.test], float)
        near = [c for c in self.test if c.near_miss]
        alarms = sum(c.word(params) is not None for c in near)
        return Scored(
            len(self.test), edge, cloud, np.array([c.margin(params) for c in self.test]),
            {"near_miss": 100 * alarms / max(len(near), 1)},
        )  # fmt: skip


def latency_ms(m: Models, params: np.ndarray | None, test: list[Clip]) -> tuple[float, float]:
    """p50 ms per clip on the device: wakeword-lite alone (`run`) against the same with the
    judge's features and MLP, alternating."""
    times: list[list[float]] = [[], []]
    for clip in test[:100]:
        t0 = time.perf_counter()
        m.lite.run(clip.wav)
        t1 = time.perf_counter()
        m.clip(clip.wav, clip.label).word(params)
        t2 = time.perf_counter()
        times[0].append((t1 - t0) * 1000)
        times[1].append((t2 - t1) * 1000)
    return float(np.median(times[0])), float(np.median(times[1]))
