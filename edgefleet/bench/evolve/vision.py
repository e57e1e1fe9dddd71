"""The vision task of `edgefleet bench evolve`: devices learn a re-scorer for their frozen face
detector (models/training/face_rescorer.py) from the hub's boxes on the images they escalated.

Each image is run once through face-detect-lite (candidates at the re-scorer's cut-off) and,
when some device asks or the figure needs it, once through the hub's face-detect-cloud; rounds
then only re-score candidates, so ten rounds cost little more than one. The device's answer is
its candidates the serving version calls faces (round 0, the shipped model: score >= 0.5).
An image is escalated when a candidate's face probability lies within `vision_band` of 0.5
(unsure), or at random (`spot_checks`). The hub's gate scores the candidate re-scorer and the
serving one on its own labelled validation images (true boxes) by hits minus false detections
per face, and publishes only when that does not fall by more than `max_regression`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefleet.bench.evolve.config import EvolveBenchConfig
from edgefleet.bench.evolve.heads import Scored, Sets

VISION_TEST_SEED = 0  # bench offload's images: the gap the collaboration benchmark measures
VISION_VALIDATION_SEED = 900  # the hub's labelled set for the gate
VISION_FLEET_SEED = 1000  # device d sees images of seed 1000 + d
VISION_VALIDATION = 150


@dataclass
class Image:
    """One image as the simulation needs it: candidates, features, truth, the hub's boxes."""

    jpeg: bytes
    truth: list[Any]
    boxes: np.ndarray
    scores: np.ndarray
    features: np.ndarray
    cloud_boxes: list[Any] | None = None

    def probabilities(self, params: np.ndarray | None) -> np.ndarray:
        """Face probability per candidate: the detector's score (shipped) or the re-scorer's."""
        if params is None or not len(self.scores):
            return self.scores
        from models.training import mlp
        from models.training.face_rescorer import SHAPE

        return np.asarray(mlp.predict_proba(SHAPE, params, self.features)[:, 1])

    def margin(self, params: np.ndarray | None) -> float:
        """How sure the device is about this image: the least |p - 0.5| over candidates."""
        p = self.probabilities(params)
        return float(np.abs(p - 0.5).min()) if len(p) else 0.5


@dataclass
class Models:
    lite: Any
    cloud: Any
    cloud_s: list[float] = field(default_factory=list)

    def image(self, sample: Any) -> Image:
        import cv2

        from models.training.face_rescorer import CANDIDATE_SCORE, candidate_features

        pixels = cv2.imdecode(np.frombuffer(sample.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ValueError("not an image")
        rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
        found = self.lite.detect(rgb, CANDIDATE_SCORE)
        grey = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        features = candidate_features(grey, found.boxes, found.scores)
        return Image(sample.jpeg, list(sample.boxes), found.boxes, found.scores, features)

    def cloud_boxes(self, image: Image) -> list[Any]:
        if image.cloud_boxes is None:
            t0 = time.perf_counter()
            image.cloud_boxes = [f.box for f in self.cloud.run(image.jpeg).faces]
            self.cloud_s.append(time.perf_counter() - t0)
        return image.cloud_boxes


def load_models() -> Models:
    from models.pipelines import load_pipeline

    return Models(load_pipeline("face-detect-lite"), load_pipeline("face-detect-cloud"))


def images(m: Models, n: int, seed: int) -> list[Image]:
    from models.datasets.faces import make_sample

    return [m.image(make_sample(i, seed)) for i in range(n)]


def edge_boxes(image: Image, params: np.ndarray | None) -> list[Any]:
    keep = image.probabilities(params) >= 0.5
    return [b for b, k in zip(image.boxes.tolist(), keep, strict=True) if k]


def per_image(images_: list[Image], answers: list[list[Any]]) -> np.ndarray:
    """(n, 2): hits and false detections of each image's answer against its true boxes."""
    from contract.outputs import match_faces

    return np.array([match_faces(i.truth, a) for i, a in zip(images_, answers, strict=True)])


class VisionTask(Sets):
    """The face re-scorer as a `heads.HeadTask`."""

    def __init__(self, cfg: EvolveBenchConfig) -> None:
        from models.training.face_rescorer import SHAPE

        self.shape, self.band = SHAPE, cfg.vision_band
        self.epochs, self.lr = cfg.vision_epochs, cfg.vision_lr
        self.m = load_models()
        seeds = (VISION_TEST_SEED, VISION_VALIDATION_SEED, VISION_FLEET_SEED)
        make = functools.partial(images, self.m)
        super().__init__(make, seeds, (cfg.vision_test, VISION_VALIDATION), cfg.vision_images, cfg)
        shipped = self.scored(None)
        self.cloud_only = shipped.accuracy(shipped.cloud)

    def shipped(self) -> np.ndarray:
        from models.training.face_rescorer import shipped_params

        return shipped_params()

    def lessons(self, item: Image) -> tuple[np.ndarray, np.ndarray]:
        from models.training.face_rescorer import candidate_labels

        return item.features, candidate_labels(item.boxes, self.m.cloud_boxes(item))

    def gate_score(self, params: np.ndarray | None) -> float:
        """Hits minus false detections per face on the hub's validation images (true boxes)."""
        hf = per_image(self.validation, [edge_boxes(i, params) for i in self.validation])
        faces = max(sum(len(i.truth) for i in self.validation), 1)
        return float(hf[:, 0].sum() - hf[:, 1].sum()) / faces

    def scored(self, params: np.ndarray | None) -> Scored:
        edge = per_image(self.test, [edge_boxes(i, params) for i in self.test])
        cloud = per_image(self.test, [self.m.cloud_boxes(i) for i in self.test])
        return Scored(
            sum(len(i.truth) for i in self.test), edge[:, 0], cloud[:, 0],
            np.array([i.margin(params) for i in self.test]),
            {"false": float(edge[:, 1].mean())},
        )  # fmt: skip


def latency_ms(m: Models, params: np.ndarray | None, n: int = 100) -> tuple[float, float]:
    """p50 ms per image on the device: the shipped detector (`run`) against decode + candidates
    + features + re-scorer, alternating, on the test images."""
    from models.datasets.faces import make_sample

    times: list[list[float]] = [[], []]
    for i in range(n):
        sample = make_sample(i, VISION_TEST_SEED)
        t0 = time.perf_counter()
        m.lite.run(sample.jpeg)
        t1 = time.perf_counter()
        edge_boxes(m.image(sample), params)
        t2 = time.perf_counter()
        times[0].append((t1 - t0) * 1000)
        times[1].append((t2 - t1) * 1000)
    return float(np.median(times[0])), float(np.median(times[1]))
