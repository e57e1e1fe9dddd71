"""Accuracy on labelled data: IoU matching of face boxes, wake-word detections, per mode."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from contract.outputs import iou, match_faces
from edgefleet.bench.offload.config import ENGINE, VISION

Box = tuple[float, float, float, float]
__all__ = ["Tally", "VoiceLabel", "iou", "match_faces", "score"]


@dataclass(frozen=True)
class VoiceLabel:
    """A clip's truth: the wake word said (None: none), and whether it is a near miss ("a
    lexus"), whose false alarms a verifier is meant to cut."""

    word: str | None
    near_miss: bool = False


@dataclass
class Tally:
    """What one mode did on one data set in one scenario."""

    latencies: list[float] = field(default_factory=list)
    cloud_answers: int = 0  # answers computed on the hub (`where` "cloud")
    gateway_answers: int = 0  # ... on a site gateway (`where` "gateway")
    errors: int = 0  # error messages received instead of results
    lost: int = 0  # no answer within the timeout
    # vision
    faces: int = 0
    hits: int = 0
    false_faces: int = 0
    # voice
    positives: int = 0
    detected: int = 0
    negatives: int = 0
    false_alarms: int = 0
    near_misses: int = 0
    near_miss_alarms: int = 0
    # engine
    readings: int = 0
    right: int = 0
    bytes_sent: int = 0
    device_cpu_s: float = 0.0  # the agent's CPU time over the measured requests

    @property
    def answered(self) -> int:
        return len(self.latencies)

    def split(self) -> dict[str, float]:
        """Where the answers were computed, % of those answered: edge, gateway, cloud."""
        n = self.answered
        if not n:
            return dict.fromkeys(("edge", "gateway", "cloud"), math.nan)
        remote = self.cloud_answers + self.gateway_answers
        return {
            "edge": 100.0 * (n - remote) / n,
            "gateway": 100.0 * self.gateway_answers / n,
            "cloud": 100.0 * self.cloud_answers / n,
        }

    def accuracy(self, kind: str) -> float:
        """Vision: hit rate (IoU >= 0.5) in %; voice: correct clips (detected wake phrases and
        quiet negatives) in %; engine: readings given the right fault class in %."""
        if kind == VISION:
            return 100.0 * self.hits / self.faces if self.faces else math.nan
        if kind == ENGINE:
            return 100.0 * self.right / self.readings if self.readings else math.nan
        n = self.positives + self.negatives
        return 100.0 * (self.detected + self.negatives - self.false_alarms) / n if n else math.nan


def score(kind: str, tally: Tally, label: Any, result: dict[str, Any]) -> None:
    output = result.get("output") or {}
    where = result.get("where")
    tally.cloud_answers += where == "cloud"
    tally.gateway_answers += where == "gateway"
    if kind == VISION:
        boxes = [f["box"] for f in output.get("faces", [])]
        hits, false = match_faces(label, boxes)
        tally.faces += len(label)
        tally.hits += hits
        tally.false_faces += false
        return
    if kind == ENGINE:
        tally.readings += 1
        tally.right += output.get("label") == label
        return
    detected = bool(output.get("detected"))
    truth = label if isinstance(label, VoiceLabel) else VoiceLabel(label)
    if truth.word:
        tally.positives += 1
        tally.detected += detected
    else:
        tally.negatives += 1
        tally.false_alarms += detected
        tally.near_misses += truth.near_miss
        tally.near_miss_alarms += truth.near_miss and detected
