"""A trainable part for the device's face detector: a re-scorer over its candidate boxes.

BlazeFace (face-detect-lite) is frozen: it cannot be trained without TensorFlow. Below its
score cut-off (0.5) it still finds many of the faces it misses, among many non-faces. The
re-scorer is a small MLP (69-16-2, `models.training.mlp`) that decides, per candidate found at
`CANDIDATE_SCORE` or above, "face or not" from the detector's own score, the box's size and
shape, and an 8x8 grey crop (normalised): cheap enough for a device, trainable in numpy from
the hub's boxes (a candidate is a face when a box of the hub's model overlaps it by IoU >= 0.5).
Used by `edgefleet bench evolve` (the vision task); the agent does not serve it yet.
"""

from collections.abc import Sequence

import cv2
import numpy as np

from contract.outputs import IOU_SAME, iou
from models.training.mlp import Shape

CANDIDATE_SCORE = 0.1  # the detector's cut-off for candidates (its own: 0.5)
CROP = 8  # crop side, pixels
SHAPE = Shape(inputs=5 + CROP * CROP, hidden=16, outputs=2)


def candidate_features(grey: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(n, 69) float32 for `boxes` (n, 4: x0, y0, x1, y1 in `grey`'s pixels) and their scores."""
    h, w = grey.shape[:2]
    out = np.zeros((len(scores), SHAPE.inputs), np.float32)
    for i, (box, score) in enumerate(zip(boxes, scores, strict=True)):
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, max(int(box[2]), x0 + 2)), min(h, max(int(box[3]), y0 + 2))
        crop = cv2.resize(grey[y0:y1, x0:x1], (CROP, CROP), interpolation=cv2.INTER_AREA)
        crop = crop.astype(np.float32).ravel()
        bw, bh = (x1 - x0) / w, (y1 - y0) / h
        logit = float(np.log(score / max(1e-6, 1 - score)))
        out[i, :5] = (score, logit / 5, bw, bh, bw / max(bh, 1e-6))
        out[i, 5:] = (crop - crop.mean()) / (crop.std() + 1e-3)
    return out


def candidate_labels(boxes: np.ndarray, reference: Sequence[Sequence[float]]) -> np.ndarray:
    """1 where a candidate overlaps a reference box (the hub's, or the truth) by IoU >= 0.5."""
    return np.array(
        [max((iou(b, r) for r in reference), default=0.0) >= IOU_SAME for b in boxes.tolist()],
        np.int64,
    )


def shipped_params(seed: int = 0) -> np.ndarray:
    """A re-scorer that starts as the detector itself: two hidden units carry the score's
    logit (relu(l) - relu(-l) = l), so P(face) = the detector's score; the other units get
    random input weights and no say in the output yet, for rounds to teach them the rest."""
    from models.training import mlp

    flat = mlp.init_params(SHAPE, seed)
    w1, b1, w2, b2 = SHAPE.unflatten(flat)
    w1[:, :2] = 0.0
    w1[1, 0], w1[1, 1] = 5.0, -5.0  # feature 1 is logit / 5
    w2[:] = 0.0
    w2[:2, :] = ((0.0, 1.0), (0.0, -1.0))
    b1[:2], b2[:] = 0.0, 0.0
    return flat
