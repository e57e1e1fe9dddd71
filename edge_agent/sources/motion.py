"""Motion gating by frame differencing: a still scene costs a frame read, not an inference.

Each frame looked at is shrunk to `WIDTH` pixels wide, turned grey and blurred (sensor noise
and JPEG artefacts change single pixels, not areas); a pixel counts as changed when it differs
from the same pixel of the previous frame looked at by more than `PIXEL_DELTA` grey levels. A
frame shows motion when the changed share reaches the camera's `motion_threshold`. The first
frame after (re)connecting always does: there is nothing to compare it with.
"""

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

WIDTH = 160
PIXEL_DELTA = 25
BLUR = (5, 5)


class MotionGate:
    """Says which frames differ enough from the previous one to be worth a model's time."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.changed = 0.0  # share of the picture that changed at the last frame
        self._previous: npt.NDArray[np.uint8] | None = None

    def reset(self) -> None:
        """Forget the previous frame (a new connection: the scene may have changed)."""
        self._previous = None

    def moved(self, frame: npt.NDArray[np.uint8]) -> bool:
        height, width = frame.shape[:2]
        size = (WIDTH, max(1, round(height * WIDTH / width)))
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = cast(
            "npt.NDArray[np.uint8]",
            cv2.GaussianBlur(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), BLUR, 0),
        )
        previous, self._previous = self._previous, small
        if previous is None:
            self.changed = 1.0
            return True
        diff = cv2.absdiff(small, previous)
        self.changed = float(np.count_nonzero(diff > PIXEL_DELTA)) / diff.size
        return self.threshold == 0 or self.changed >= self.threshold
