"""The device wake-word model's doubt head (models/training/doubt.py): how likely the hub's
`wakeword-cloud` answers a clip right where `wakeword-lite` answers it wrong.

The verify-and-rescue rule (edge_agent/cascade.py) sends every clip the device fires on and
every silent one that half-heard a wake word: 53 % of the offload bench's clips, where half are
wake phrases. The head reads the device's own answer — each word's highest probability, whether
and which word it detected, its best probability, the clip's length — (MLP 9-8-2) and learns
from the hub model's answers which clips it would correct (near misses the device fires on,
wake phrases it missed), so a cascade can ask about those only.

Trained here on espeak-ng clips of generator seed 4243 (800) and checked on seed 4244 (300);
neither `wakeword-cloud`'s training (777), the rescue rule's validation (4242) nor
`bench offload` (0) uses them. Labels: both models' answers against the clip's known phrase.
Rebuild: `python -m models.training.wake_doubt` (deterministic; about a minute here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from contract.outputs import WakeWordOutput
from models.training import doubt_build
from models.training.doubt import DoubtHead

WORDS = ("okay_nabu", "alexa", "hey_mycroft")  # wakeword-lite's labels, in catalogue order
HIDDEN = 8
RECIPE = doubt_build.Recipe(
    "wakeword-lite", "wakeword-cloud", HIDDEN, 300, 0.05, (4243, 800), (4244, 300)
)


def doubt_features(output: WakeWordOutput) -> np.ndarray:
    """(9,) float32 from the device's answer."""
    probabilities = [output.probabilities.get(w, 0.0) for w in WORDS]
    which = [float(output.wake_word == w) for w in WORDS]
    answer = [float(output.detected), output.probability, output.duration_s]
    return np.array(probabilities + answer + which, np.float32)


def _right(output: Any, label: str | None) -> bool:
    return bool(output.wake_word == label) if output.detected else label is None


def _examples(device: Any, cloud: Any, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    from models.datasets import speech

    xs, ys = [], []
    for clip in speech.load_speech(n, seed=seed):
        mine, theirs = device.run(clip.wav), cloud.run(clip.wav)
        xs.append(doubt_features(mine))
        ys.append(int(_right(theirs, clip.label) and not _right(mine, clip.label)))
    return np.array(xs), np.array(ys, np.int64)


def build() -> DoubtHead:
    """Train the head from the hub model's answers (deterministic)."""
    return doubt_build.build(RECIPE, _examples)


if __name__ == "__main__":
    doubt_build.write(build())
