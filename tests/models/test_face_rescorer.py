"""The face detector's trainable part: features, labels from reference boxes, the shipped start."""

import numpy as np

from models.training import mlp
from models.training.face_rescorer import (
    SHAPE,
    candidate_features,
    candidate_labels,
    shipped_params,
)


def test_the_shipped_rescorer_answers_the_detectors_own_score() -> None:
    grey = np.random.default_rng(0).integers(0, 255, (120, 160), dtype=np.uint8)
    boxes = np.array([[10, 10, 40, 50], [100, 60, 150, 119], [0, 0, 1, 1]], np.float32)
    scores = np.array([0.12, 0.5, 0.93], np.float32)
    x = candidate_features(grey, boxes, scores)
    assert (x.shape, x.dtype) == ((3, SHAPE.inputs), np.float32)
    assert np.isfinite(x).all()  # a 1-pixel box is widened, not divided by zero
    np.testing.assert_allclose(
        mlp.predict_proba(SHAPE, shipped_params(), x)[:, 1], scores, atol=1e-5
    )


def test_a_candidate_is_a_face_when_a_reference_box_overlaps_it() -> None:
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 20]], np.float32)
    assert candidate_labels(boxes, [(0, 0, 10, 11)]).tolist() == [1, 0, 1]
    assert candidate_labels(boxes, []).tolist() == [0, 0, 0]
