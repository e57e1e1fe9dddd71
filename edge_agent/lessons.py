"""Lessons: readings the device's cascade asked the hub about, with the hub's answer as label.

This is what a device trains on in a federated round (`federated.training_data: escalated`):
distillation from the hub's larger model, on the inputs the device itself found hard (and the
spot-checked ones, which keep the set from holding only hard cases). Kept in memory, newest
`federated.lessons_max` (11 features + a label: ~50 bytes each); a restart starts over, as
the next readings teach again. Only the trainable model's answers are kept
(docs/federated.md "What a device trains on").
"""

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from models.datasets.engine import N_FEATURES, parse_reading, to_features

log = logging.getLogger(__name__)


class Lessons:
    def __init__(self, model: str, keep: int) -> None:
        self.model = model
        self._x: deque[np.ndarray] = deque(maxlen=keep)
        self._y: deque[int] = deque(maxlen=keep)
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
        self.learned += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, 11) float32 features and (n,) int64 labels, oldest first."""
        if not self._y:
            return np.zeros((0, N_FEATURES), np.float32), np.zeros(0, np.int64)
        return np.stack(self._x), np.fromiter(self._y, np.int64, len(self._y))
