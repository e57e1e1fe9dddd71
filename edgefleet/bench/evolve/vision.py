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

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefleet.bench.evolve.config import EvolveBenchConfig

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


def images(m: Models, n: int, seed: int, start: int = 0) -> list[Image]:
    from models.datasets.faces import make_sample

    return [m.image(make_sample(i, seed)) for i in range(start, start + n)]


def edge_boxes(image: Image, params: np.ndarray | None) -> list[Any]:
    keep = image.probabilities(params) >= 0.5
    return [b for b, k in zip(image.boxes.tolist(), keep, strict=True) if k]


def per_image(images_: list[Image], answers: list[list[Any]]) -> np.ndarray:
    """(n, 2): hits and false detections of each image's answer against its true boxes."""
    from contract.outputs import match_faces

    return np.array([match_faces(i.truth, a) for i, a in zip(images_, answers, strict=True)])


@dataclass
class Scored:
    """The test images scored once per model version: the device's and the hub's answers."""

    faces: int
    edge: np.ndarray  # (n, 2) hits, false
    cloud: np.ndarray
    margins: np.ndarray

    @classmethod
    def of(cls, m: Models, test: list[Image], params: np.ndarray | None) -> Scored:
        edge = per_image(test, [edge_boxes(i, params) for i in test])
        cloud = per_image(test, [m.cloud_boxes(i) for i in test])
        margins = np.array([i.margin(params) for i in test])
        return cls(sum(len(i.truth) for i in test), edge, cloud, margins)

    def hit(self, which: np.ndarray) -> float:
        return 100 * float(which[:, 0].sum()) / max(self.faces, 1)

    def cascade(self, asked: np.ndarray, spot: float) -> tuple[float, float]:
        """(hit %, share sent) when `asked` go to the hub and a share `spot` of the others
        too, in expectation (as the engine task)."""
        chosen = np.where(asked[:, None], self.cloud, self.edge)
        hit = (1 - spot) * self.hit(chosen) + spot * self.hit(self.cloud)
        share = float(asked.mean())
        return hit, share + spot * (1 - share)

    def share_for(self, target: float, spot: float) -> float:
        """The least share the cascade must send (least sure images first) to reach `target`."""
        order = np.argsort(self.margins, kind="stable")
        for k in range(len(order) + 1):
            asked = np.zeros(len(order), bool)
            asked[order[:k]] = True
            hit, share = self.cascade(asked, spot)
            if hit >= target - 1e-9:
                return share
        return 1.0


def net(images_: list[Image], params: np.ndarray | None) -> float:
    """Hits minus false detections per face, the gate's figure (0..1 when few false)."""
    hf = per_image(images_, [edge_boxes(i, params) for i in images_])
    faces = max(sum(len(i.truth) for i in images_), 1)
    return float(hf[:, 0].sum() - hf[:, 1].sum()) / faces


def simulate_vision(cfg: EvolveBenchConfig) -> tuple[list[dict[str, Any]], float, Models]:
    """Rows per round (round 0: the shipped detector), cloud-only hit % on the test images."""
    from cloud_hub.federated import aggregate
    from models.training import mlp
    from models.training.face_rescorer import SHAPE, candidate_labels, shipped_params

    m = load_models()
    test = images(m, cfg.vision_test, VISION_TEST_SEED)
    validation = images(m, VISION_VALIDATION, VISION_VALIDATION_SEED)
    cloud_only = Scored.of(m, test, None)
    band, spot = cfg.vision_band, cfg.spot_checks

    def row(r: int, params: np.ndarray | None, **extra: Any) -> dict[str, Any]:
        scored = Scored.of(m, test, params)
        c_hit, share = scored.cascade(scored.margins <= band, spot)
        return {"round": r, "edge": scored.hit(scored.edge),
                "false": float(scored.edge[:, 1].mean()), "cascade": c_hit,
                "sent": 100 * share, "scored": scored, **extra}  # fmt: skip

    first = row(0, None, kept=0, gate="shipped")
    first["equal_share"] = first["sent"]
    rows, target = [first], first["cascade"]
    serving: np.ndarray | None = None  # the shipped detector's own rule, score >= 0.5
    weights = shipped_params()  # the same rule as a re-scorer
    n = cfg.vision_images
    fleet = [images(m, cfg.rounds * n, VISION_FLEET_SEED + d) for d in range(cfg.devices)]
    empty = (np.zeros((0, SHAPE.inputs), np.float32), np.zeros(0, np.int64))
    kept = [empty] * cfg.devices
    for r in range(1, cfg.rounds + 1):
        deltas, counts = [], []
        for d, seen in enumerate(fleet):
            rng = np.random.default_rng([r, d, 7])
            for image in seen[(r - 1) * n : r * n]:
                if image.margin(serving) <= band or rng.random() < spot:
                    labels = candidate_labels(image.boxes, m.cloud_boxes(image))
                    xs = np.concatenate([kept[d][0], image.features])[-cfg.keep :]
                    ys = np.concatenate([kept[d][1], labels])[-cfg.keep :]
                    kept[d] = (xs, ys)
            if len(kept[d][1]):
                trained = mlp.train(
                    SHAPE, weights, *kept[d], epochs=cfg.vision_epochs, lr=cfg.vision_lr,
                    seed=r * 1000 + d,
                )  # fmt: skip
                deltas.append(trained - weights)
                counts.append(len(kept[d][1]))
        if deltas:
            step = aggregate.fedavg(np.stack(deltas), np.array(counts, np.float64))
            weights = (weights + step).astype(np.float32)
        refused = aggregate.gate_refuses(
            net(validation, weights), net(validation, serving), cfg.max_regression
        )
        if not refused:
            serving = weights
        out = row(r, serving, kept=sum(len(k[1]) for k in kept),
                  gate="refused" if refused else "published")  # fmt: skip
        out["equal_share"] = 100 * out.pop("scored").share_for(target, spot)
        rows.append(out)
    first.pop("scored")
    rows[-1]["params"] = serving  # for the latency figure; run.py takes it out
    return rows, cloud_only.hit(cloud_only.cloud), m


def latency_ms(m: Models, params: np.ndarray | None, n: int = 100) -> tuple[float, float]:
    """p50 ms per image on the device: the shipped detector (`run`) against decode + candidates
    + features + re-scorer, alternating, on the test images."""
    from models.datasets.faces import make_sample

    jpegs = [make_sample(i, VISION_TEST_SEED).jpeg for i in range(n)]
    times: list[list[float]] = [[], []]
    for jpeg in jpegs:
        t0 = time.perf_counter()
        m.lite.run(jpeg)
        t1 = time.perf_counter()
        image = m.image(_Sample(jpeg))
        edge_boxes(image, params)
        t2 = time.perf_counter()
        times[0].append((t1 - t0) * 1000)
        times[1].append((t2 - t1) * 1000)
    return float(np.median(times[0])), float(np.median(times[1]))


@dataclass
class _Sample:
    jpeg: bytes
    boxes: tuple[Any, ...] = ()
