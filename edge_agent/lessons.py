"""Lessons: readings the device's cascade asked the hub about, with the hub's answer as label.

This is what a device trains on in a federated round (`federated.training_data: escalated`):
distillation from the hub's larger model, on the inputs the device itself found hard (and the
spot-checked ones, which keep the set from holding only hard cases). An operator who corrected
the hub's answer on the dashboard overrules it: a round's `fl-train` carries those labels by
the SHA-256 of the input's bytes, the key the hub stores the input under (docs/hub.md "Hard
samples"), and they replace the hub's label here for that round. Kept in memory, newest
`federated.lessons_max` (11 features, a label and a digest: ~420 bytes each as Python keeps
them, 0.8 MB at the default 2,000); a restart starts over, as the next readings teach again.
Only the trainable model's answers are kept (docs/federated.md "What a device trains on").
"""

import hashlib
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from models.datasets.engine import FAULTS, N_FEATURES, parse_reading, to_features

log = logging.getLogger(__name__)


class TrainingSet(NamedTuple):
    """The lessons as arrays, oldest first, and how many labels an operator's replaced."""

    x: np.ndarray  # (n, 11) float32 features
    y: np.ndarray  # (n,) int64 labels
    corrected: int


class Lessons:
    def __init__(self, model: str, keep: int) -> None:
        self.model = model
        self._x: deque[np.ndarray] = deque(maxlen=keep)
        self._y: deque[int] = deque(maxlen=keep)
        self._sha: deque[str] = deque(maxlen=keep)
        self.learned = 0  # all ever kept (only the newest `keep` stay)

    def __len__(self) -> int:
        return len(self._y)

    def learn(self, model: str, payload: bytes, answer: Mapping[str, Any]) -> None:
        """Keep `payload` labelled by the hub's `answer` (a `TabularOutput`); other models'
        answers, and an answer without a class label, are not lessons."""
        label = answer.get("label")
        if model != self.model or isinstance(label, bool) or not isinstance(label, int):
            return
        try:
            features = to_features([parse_reading(payload)])[0]
        except ValueError as exc:  # answered by the hub, refused here: not a reading we know
            log.debug("not a lesson: %s", exc)
            return
        self._x.append(features)
        self._y.append(label)
        self._sha.append(hashlib.sha256(payload).hexdigest())
        self.learned += 1

    def arrays(self, labels: Mapping[str, int] | None = None) -> TrainingSet:
        """The lessons, with `labels` (input SHA-256 -> class, an operator's) in place of the
        hub's where an input has one; a class this model does not have is ignored (logged)."""
        if not self._y:
            return TrainingSet(np.zeros((0, N_FEATURES), np.float32), np.zeros(0, np.int64), 0)
        y = np.fromiter(self._y, np.int64, len(self._y))
        given = labels or {}
        corrected = 0
        for i, sha in enumerate(self._sha):
            label = given.get(sha)
            if label is None:
                continue
            if not 0 <= label < len(FAULTS):
                log.warning("operator label %s of input %s is not a class of %s: ignored",
                            label, sha[:12], self.model)  # fmt: skip
                continue
            corrected += int(y[i] != label)
            y[i] = label
        return TrainingSet(np.stack(self._x), y, corrected)
