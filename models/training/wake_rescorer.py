"""A trainable part for the device's wake-word models: a judge of their candidates.

microWakeWord (wakeword-lite) is frozen (int8 streaming TFLite). Its near misses ("a lexus"
for "alexa") fire with the same probability as the real phrase, so no cut-off separates them,
but the sound around the detection does (a trailing "s", an extra syllable); and it stays
silent on many real wake phrases whose probability peaked below its cut-off, which the hub then
rescues. A *candidate* is either a detection or a silent clip whose likeliest word reached a
floor (the bench uses the cascade's default `rescue_min_probability`: the clips the shipped
cascade asks the hub to rescue). The judge is a small MLP (`models.training.mlp`) over what
the device already computed: the micro frontend's 40-channel features from 1 s before to
0.4 s after the candidate word's peak, averaged into 7 time bins and normalised, the three
words' probabilities, which word fired, and the clip's length. It answers P(the hub's model would
hear the candidate word). A detection is kept at P >= 0.5, a silent candidate accepted only at
P > 0.5: it starts undecided (P = 0.5: the shipped device's answers, every candidate asked
about, as the shipped cascade verifies and rescues) and learns from the hub's verdicts.
Used by `edgefleet bench evolve` (the voice task); the agent does not serve it yet.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.training import mlp
from models.training.mlp import Shape

BEFORE, AFTER, BINS = 100, 40, 7  # frames of 10 ms around the peak; time bins
WORDS = ("okay_nabu", "alexa", "hey_mycroft")
SHAPE = Shape(inputs=BINS * 40 + 2 * len(WORDS) + 2, hidden=16, outputs=2)


@dataclass(frozen=True)
class Candidate:
    """A word the device detected (`fired`) or nearly did, with the judge's features."""

    word: str
    fired: bool
    features: np.ndarray  # SHAPE.inputs float32

    def probability(self, params: np.ndarray) -> float:
        """The judge's P(the hub hears `word`), with the judge's flat `params`."""
        return float(mlp.predict_proba(SHAPE, params, self.features[None])[0, 1])

    def kept(self, p: float) -> bool:
        """The device's answer given the judge's P: ties keep what the device itself said."""
        return p >= 0.5 if self.fired else p > 0.5


def candidate(pipeline: Any, payload: bytes, floor: float) -> tuple[Any, Candidate | None]:
    """Run the microWakeWord `pipeline` on `payload`: its output and its candidate, if any
    (a detection, or the likeliest word when that reached `floor`)."""
    decoded = pipeline.decode(payload)
    features = pipeline.preprocess(decoded)
    raw = pipeline.infer(features)
    output = pipeline.postprocess(raw, decoded)
    word = output.wake_word
    if not output.detected:
        word = max(WORDS, key=lambda w: output.probabilities.get(w, 0.0))
        if output.probabilities.get(word, 0.0) < floor:
            return output, None
    model = next(m for m in pipeline.models if m.word == word)
    peak = int(np.argmax(raw[model.word])) * model.stride
    lo, hi = peak - BEFORE, peak + AFTER
    window = np.zeros((BEFORE + AFTER, features.shape[1]), np.float32)
    seen = features[max(0, lo) : min(len(features), hi)]
    window[max(0, -lo) : max(0, -lo) + len(seen)] = seen
    binned = window.reshape(BINS, -1, features.shape[1]).mean(1)
    binned = (binned - binned.mean()) / (binned.std() + 1e-3)
    words = [output.probabilities.get(w, 0.0) for w in WORDS]
    fired = [float(output.wake_word == w) for w in WORDS]
    lengths = [(len(features) - hi) / 100, len(features) / 300]
    vector = np.concatenate([binned.ravel(), words, fired, lengths]).astype(np.float32)
    return output, Candidate(word, output.detected, vector)


def shipped_params(seed: int = 0) -> np.ndarray:
    """A judge that is undecided about every candidate (P = 0.5): it keeps the detections and
    accepts no silent candidate, as the shipped device does, and being unsure it has each one
    checked by the hub, as the shipped cascade does; its random hidden units have no say
    until rounds teach them."""
    flat = mlp.init_params(SHAPE, seed)
    _, _, w2, b2 = SHAPE.unflatten(flat)
    w2[:], b2[:] = 0.0, 0.0
    return flat
