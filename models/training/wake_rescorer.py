"""A trainable part for the device's wake-word models: a confirmer of their detections.

microWakeWord (wakeword-lite) is frozen (int8 streaming TFLite). Its near misses ("a lexus"
for "alexa") fire with the same probability as the real phrase, so no cut-off separates them,
but the sound around the detection does (a trailing "s", an extra syllable). The confirmer is
a small MLP (`models.training.mlp`) over what the device already computed: the micro frontend's
40-channel features from 1 s before to 0.4 s after the detection's peak, averaged into 7 time
bins and normalised, the three words' probabilities, which word fired, and the clip's length.
It answers P(the hub's model would say the same word); below 0.5 the detection is dropped.
It starts undecided (confirming everything, as shipped) and learns from the hub's verdicts.
Used by `edgefleet bench evolve` (the voice task); the agent does not serve it yet.
"""

from typing import Any

import numpy as np

from models.training.mlp import Shape

BEFORE, AFTER, BINS = 100, 40, 7  # frames of 10 ms around the peak; time bins
WORDS = ("okay_nabu", "alexa", "hey_mycroft")
SHAPE = Shape(inputs=BINS * 40 + 2 * len(WORDS) + 2, hidden=16, outputs=2)


def detection_features(pipeline: Any, payload: bytes) -> tuple[Any, np.ndarray | None]:
    """Run the microWakeWord `pipeline` on `payload`: its output and, when it detected a word,
    the confirmer's features (SHAPE.inputs float32)."""
    decoded = pipeline.decode(payload)
    features = pipeline.preprocess(decoded)
    raw = pipeline.infer(features)
    output = pipeline.postprocess(raw, decoded)
    if not output.detected:
        return output, None
    model = next(m for m in pipeline.models if m.word == output.wake_word)
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
    return output, np.concatenate([binned.ravel(), words, fired, lengths]).astype(np.float32)


def shipped_params(seed: int = 0) -> np.ndarray:
    """A confirmer that is undecided about every detection (P = 0.5): it confirms them all,
    as the shipped device does, and being unsure it has each verified by the hub, as the
    shipped cascade does; its random hidden units have no say until rounds teach them."""
    from models.training import mlp

    flat = mlp.init_params(SHAPE, seed)
    _, _, w2, b2 = SHAPE.unflatten(flat)
    w2[:], b2[:] = 0.0, 0.0
    return flat
