"""The hub's face detector finds the faces the device's model misses, without more false ones."""

import numpy as np
import pytest

from edgefleet.bench.offload.scoring import match_faces
from models.datasets.faces import generate
from models.errors import InputError
from models.pipelines import AnyPipeline
from models.pipelines.face_ensemble import fuse, tiles
from models.processing.vision import NUM_KEYPOINTS, Detections


def _detections(boxes: list[tuple[float, ...]], keypoints: bool) -> Detections:
    n = len(boxes)
    points = np.ones((n, NUM_KEYPOINTS, 2), np.float32)
    if not keypoints:
        points[:] = np.nan
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(n, 0.9), points)


def test_tiles_cover_the_image_with_overlap() -> None:
    parts = tiles(640, 480, grid=2, overlap=0.25)
    assert len(parts) == 4
    assert min(p[0] for p in parts) == 0
    assert max(p[2] for p in parts) == 640
    assert min(p[1] for p in parts) == 0
    assert max(p[3] for p in parts) == 480
    left, right = parts[0], parts[1]
    assert left[2] > right[0]  # neighbours overlap
    assert tiles(640, 480, grid=1, overlap=0.25) == []


def test_fuse_trusts_members_in_order_and_borrows_keypoints() -> None:
    hog = _detections([(10, 10, 50, 50)], keypoints=False)
    blaze = _detections([(12, 11, 52, 49), (200, 200, 240, 240)], keypoints=True)
    fused = fuse([hog, blaze], merge_iou=0.3)
    assert fused.boxes.tolist() == [[10, 10, 50, 50], [200, 200, 240, 240]]
    assert np.isfinite(fused.keypoints).all()  # the HOG box took BlazeFace's landmarks


def _score(pipeline: AnyPipeline, samples: list) -> tuple[int, int, int]:  # type: ignore[type-arg]
    hits = false = faces = 0
    for sample in samples:
        out = pipeline.run(sample.jpeg)
        h, f = match_faces([p.box for p in sample.faces], [face.box for face in out.faces])
        hits, false, faces = hits + h, false + f, faces + len(sample.faces)
    return hits, false, faces


@pytest.mark.slow
def test_cloud_model_finds_what_the_device_misses(pipelines: dict[str, AnyPipeline]) -> None:
    samples = generate(40, seed=7)  # a data set none of the thresholds were chosen on
    edge_hits, edge_false, faces = _score(pipelines["face-detect-lite"], samples)
    full_hits, _, _ = _score(pipelines["face-detect-full"], samples)
    cloud_hits, cloud_false, _ = _score(pipelines["face-detect-cloud"], samples)
    assert faces >= 40
    assert cloud_hits >= edge_hits + 0.15 * faces, (edge_hits, cloud_hits, faces)
    assert cloud_hits > full_hits
    assert cloud_false <= edge_false


def test_a_batch_answers_each_image_as_alone(pipelines: dict[str, AnyPipeline]) -> None:
    cloud = pipelines["face-detect-cloud"]
    samples = generate(3, seed=11)
    payloads = [samples[0].jpeg, b"not an image", samples[1].jpeg, samples[2].jpeg]
    batch = cloud.run_batch(payloads)  # type: ignore[attr-defined]
    assert isinstance(batch[1], InputError)
    assert batch[1].code == "bad_image"
    alone = [cloud.run(p) for p in (payloads[0], payloads[2], payloads[3])]
    assert [batch[0], batch[2], batch[3]] == alone
