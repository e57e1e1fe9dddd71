"""The face detector's doubt head (models/training/doubt.py): how likely the hub's model would
answer an image better.

The light detector's best face score is a weak signal of that: the faces it misses leave no
face to be unsure about, and asking about every image below a score sends most of them (66 %
for [0, 0.9], docs/offload.md). The images
the hub improves do leave a trace in the detector's *sub-threshold* candidates (score 0.1 to
0.5: several weak boxes, a large half-seen face...), which the agent does not publish. This head
reads them: 13 numbers per image (the six best candidate scores, how many candidates pass 0.1,
0.3, 0.5 and 0.8, how many lie in [0.1, 0.5), and the largest and smallest box as a share of
the image) -> MLP 13-8-2 (`models.training.mlp`) -> P(the hub's face-detect-cloud finds more
true faces than it adds false ones, against the device's answer).

Trained here on generated images (`models.datasets.faces`, seeds kept apart from the
benchmarks': training 1000, validation 900; `bench offload` measures on seed 0), each labelled
by whether face-detect-cloud's answer scores better than the device's against its true boxes:
the cloud teaching the device when to ask. The weights are small (130 numbers) and ship with
the code (models/heads/), pinned to the light model's version; rebuild with
`python -m models.training.face_doubt` (deterministic: fixed seeds; ~3 minutes here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.training import doubt_build
from models.training.doubt import DoubtHead

CANDIDATE_SCORE = 0.1  # the detector's cut-off for the candidates the head reads
TOP = 6
FEATURES = TOP + 7
HIDDEN = 8
TRAIN_SEED, VALIDATION_SEED = 1000, 900
TRAIN_IMAGES, VALIDATION_IMAGES = 800, 200
EPOCHS, LR = 200, 0.05


def doubt_features(scores: np.ndarray, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(FEATURES,) float32 from the candidates at `CANDIDATE_SCORE` or above (`boxes` (n, 4) x0, y0,
    x1, y1 in pixels of a `width` x `height` image)."""
    s = np.sort(np.asarray(scores, np.float64))[::-1]
    top = np.zeros(TOP)
    top[: min(TOP, len(s))] = s[:TOP]
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) / max(width * height, 1)
    counts = [len(s), (s >= 0.3).sum(), (s >= 0.5).sum(), (s >= 0.8).sum(), (s < 0.5).sum()]
    sizes = [area.max(), area.min()] if len(area) else [0.0, 0.0]
    return np.concatenate([top, counts, sizes]).astype(np.float32)


def _examples(lite: Any, cloud: Any, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and "the hub answers better" labels of `n` generated images."""
    import cv2

    from contract.outputs import match_faces
    from models.datasets.faces import make_sample

    xs, ys = [], []
    for i in range(n):
        sample = make_sample(i, seed)
        bgr = cv2.imdecode(np.frombuffer(sample.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"generated image {seed}/{i} does not decode")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        found = lite.detect(rgb, CANDIDATE_SCORE)
        height, width = rgb.shape[:2]
        xs.append(doubt_features(found.scores, found.boxes, width, height))
        edge = [b for b, s in zip(found.boxes.tolist(), found.scores, strict=True) if s >= 0.5]
        hub = [f.box for f in cloud.run(sample.jpeg).faces]
        (eh, ef), (ch, cf) = match_faces(sample.boxes, edge), match_faces(sample.boxes, hub)
        ys.append(int((ch - eh) - (cf - ef) > 0))
    return np.array(xs), np.array(ys, np.int64)


RECIPE = doubt_build.Recipe(
    "face-detect-lite",
    "face-detect-cloud",
    HIDDEN,
    EPOCHS,
    LR,
    (TRAIN_SEED, TRAIN_IMAGES),
    (VALIDATION_SEED, VALIDATION_IMAGES),
)


def build() -> DoubtHead:
    """Train the head from the hub model's answers (deterministic)."""
    return doubt_build.build(RECIPE, _examples)


if __name__ == "__main__":
    doubt_build.write(build())
