"""Accuracy on labelled data: IoU matching of face boxes, wake-word detections, per mode."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgefleet.bench.offload.config import IOU_HIT, VISION

Box = tuple[float, float, float, float]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_faces(truth: Sequence[Box], found: Sequence[Sequence[float]]) -> tuple[int, int]:
    """(true faces hit with IoU >= 0.5, false detections); greedy, best overlap first."""
    pairs = sorted(
        ((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)),
        reverse=True,
    )
    used_t: set[int] = set()
    used_f: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < IOU_HIT:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t), len(found) - len(used_f)


@dataclass
class Tally:
    """What one mode did on one data set in one scenario."""

    latencies: list[float] = field(default_factory=list)
    cloud_answers: int = 0
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
    bytes_sent: int = 0

    @property
    def answered(self) -> int:
        return len(self.latencies)

    def accuracy(self, kind: str) -> float:
        """Vision: hit rate (IoU >= 0.5) in %; voice: correct clips (detected wake phrases and
        quiet negatives) in %."""
        if kind == VISION:
            return 100.0 * self.hits / self.faces if self.faces else math.nan
        n = self.positives + self.negatives
        return 100.0 * (self.detected + self.negatives - self.false_alarms) / n if n else math.nan


def score(kind: str, tally: Tally, label: Any, result: dict[str, Any]) -> None:
    output = result.get("output") or {}
    if result.get("where") == "cloud":
        tally.cloud_answers += 1
    if kind == VISION:
        boxes = [f["box"] for f in output.get("faces", [])]
        hits, false = match_faces(label, boxes)
        tally.faces += len(label)
        tally.hits += hits
        tally.false_faces += false
        return
    detected = bool(output.get("detected"))
    if label:
        tally.positives += 1
        tally.detected += detected
    else:
        tally.negatives += 1
        tally.false_alarms += detected
