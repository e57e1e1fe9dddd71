"""Composited face data: boxes inside the image, determinism, caching, labels."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.datasets import faces


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.fixture(scope="module")
def samples() -> list[faces.FaceSample]:
    return faces.generate(24, seed=3)


def test_images_are_jpegs_of_the_requested_size(samples: list[faces.FaceSample]) -> None:
    for s in samples:
        assert s.jpeg[:2] == b"\xff\xd8"
        h, w = _decode(s.jpeg).shape[:2]
        assert (w, h) == (s.width, s.height) == faces.DEFAULT_SIZE


def test_boxes_lie_inside_the_image_and_do_not_overlap(samples: list[faces.FaceSample]) -> None:
    for s in samples:
        for x0, y0, x1, y1 in s.boxes:
            assert 0 <= x0 < x1 <= s.width
            assert 0 <= y0 < y1 <= s.height
            assert x1 - x0 >= 15
            assert y1 - y0 >= 15
        for i, a in enumerate(s.boxes):
            for b in s.boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_both_positives_and_negatives_with_labels(samples: list[faces.FaceSample]) -> None:
    assert any(s.has_face for s in samples)
    assert any(not s.has_face for s in samples)
    for s in samples:
        assert s.background in faces.BACKGROUNDS
        for f in s.faces:
            assert f.source in faces.SOURCES
            assert f.pose in {"frontal", "profile"}
            assert -15 <= f.angle_deg <= 15


def test_same_seed_same_bytes_other_seed_differs() -> None:
    a = faces.make_sample(5, seed=11)
    b = faces.make_sample(5, seed=11)
    c = faces.make_sample(5, seed=12)
    assert a.jpeg == b.jpeg
    assert a.boxes == b.boxes
    assert a.jpeg != c.jpeg


def test_face_pixels_land_in_the_box() -> None:
    """The pasted face differs from the background inside the ground-truth box."""
    s = faces.face_image(seed=0)
    ((x0, y0, x1, y1),) = s.boxes
    image = _decode(s.jpeg).astype(np.float32)
    # astronaut's skin is warm: more red than blue inside the face box
    face = image[int(y0) : int(y1), int(x0) : int(x1)]
    assert face[:, :, 2].mean() > face[:, :, 0].mean() + 20


def test_cache_round_trip(tmp_path: Path) -> None:
    first = faces.load_faces(6, seed=2, data_dir=tmp_path)
    files = sorted((tmp_path / "faces").rglob("*.jpg"))
    assert len(files) == 6
    again = faces.load_faces(6, seed=2, data_dir=tmp_path)
    assert [s.jpeg for s in again] == [s.jpeg for s in first]
    assert [s.boxes for s in again] == [s.boxes for s in first]
    assert [s.jpeg for s in first] == [s.jpeg for s in faces.generate(6, seed=2)]
