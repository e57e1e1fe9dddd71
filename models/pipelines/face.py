"""BlazeFace face detection (short- and full-range) as a Pipeline."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from contract.outputs import Face, FaceDetectionOutput
from models.catalogue import ModelSpec
from models.cpus import usable_cpus
from models.errors import CatalogueError
from models.pipelines.base import Pipeline
from models.pipelines.lanes import Lanes
from models.processing import vision
from models.runtimes import load_runtime

FaceInputs = np.ndarray
FaceRaw = tuple[np.ndarray, np.ndarray]


class FaceDetectionPipeline(Pipeline[vision.Decoded, FaceInputs, FaceRaw, FaceDetectionOutput]):
    """JPEG/PNG bytes -> faces (boxes, scores, 6 keypoints) in original image pixels.

    A large JPEG is decoded at a reduced size (`decode_at_least`, `decode_oversample`): the
    letterbox would throw those pixels away anyway."""

    def __init__(self, spec: ModelSpec, paths: dict[str, Path], num_threads: int = 1) -> None:
        super().__init__(spec, paths, num_threads)
        if spec.anchors is None:
            raise CatalogueError(f"model {spec.id}: BlazeFace needs an `anchors` entry")
        self.runtime = load_runtime(paths[spec.files[0].name], num_threads=num_threads)
        _, height, width, _ = self.runtime.inputs[0].shape
        if height != width:
            raise CatalogueError(f"model {spec.id}: expected a square input, got {height}x{width}")
        self.size = height
        self.value_range = spec.input.value_range or (-1.0, 1.0)
        self.anchors = vision.ssd_anchors(height, spec.anchors.strides, spec.anchors.per_layer)
        shapes = [o.shape for o in self.runtime.outputs]
        self._reg_out = next(i for i, s in enumerate(shapes) if s[-1] == 16)
        self._score_out = next(i for i, s in enumerate(shapes) if s[-1] == 1)
        if shapes[self._reg_out][-2] != len(self.anchors):
            raise CatalogueError(
                f"model {spec.id}: {shapes[self._reg_out][-2]} outputs but "
                f"{len(self.anchors)} anchors from strides {spec.anchors.strides}"
            )
        self.min_score = spec.param("min_score", 0.5)
        self.nms_iou = spec.param("nms_iou", 0.3)
        self.decode_oversample = spec.param("decode_oversample", 2.0)  # vision.decode_at_least
        lanes = int(spec.param("batch_lanes", 0)) or usable_cpus()
        self._lanes = Lanes(self, lambda: type(self)(spec, paths, num_threads), lanes)

    def run_batch(self, payloads: Sequence[bytes]) -> list[FaceDetectionOutput | Exception]:
        """The hub's batches: spread over copies of this pipeline, one per core (lanes.py)."""
        return self._lanes.run(FaceDetectionPipeline.run, payloads)

    def close(self) -> None:
        self._lanes.close()

    def decode(self, payload: bytes) -> vision.Decoded:
        return vision.decode_at_least(payload, self.size, self.decode_oversample)

    def preprocess(self, decoded: vision.Decoded) -> FaceInputs:
        tensor, _ = vision.letterbox(decoded.pixels, self.size, self.value_range)
        return tensor

    def infer(self, inputs: FaceInputs) -> FaceRaw:
        outputs = self.runtime.invoke(inputs)
        return outputs[self._reg_out], outputs[self._score_out]

    def detect(self, image: np.ndarray, min_score: float | None = None) -> vision.Detections:
        """Detections in `image`'s pixels, at this model's or a given score cut-off (the
        hub's ensemble runs it on tiles, face_ensemble.py)."""
        decoded = vision.Decoded(image, image.shape[1], image.shape[0])
        return self._detections(self.infer(self.preprocess(decoded)), decoded, min_score)

    def _detections(
        self, raw: FaceRaw, decoded: vision.Decoded, min_score: float | None = None
    ) -> vision.Detections:
        height, width = decoded.pixels.shape[:2]
        cut = self.min_score if min_score is None else min_score
        detections = vision.decode_blazeface(raw[0], raw[1], self.anchors, cut)
        detections = vision.weighted_nms(detections, self.nms_iou)
        box = vision.letterbox_params(width, height, self.size)
        found = vision.to_image_pixels(detections, box, width, height)
        decoded.to_original(found.boxes.reshape(-1, 2, 2))
        decoded.to_original(found.keypoints)
        return found

    def postprocess(self, raw: FaceRaw, decoded: vision.Decoded) -> FaceDetectionOutput:
        width, height = decoded.width, decoded.height
        detections = self._detections(raw, decoded)
        faces = [
            Face(
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                score=float(s),
                keypoints=[(float(x), float(y)) for x, y in k],
            )
            for b, s, k in zip(
                detections.boxes, detections.scores, detections.keypoints, strict=True
            )
        ]
        return FaceDetectionOutput(
            faces=faces, image_size=(width, height), doubt=self._doubt(raw, decoded)
        )

    def _doubt(self, raw: FaceRaw, decoded: vision.Decoded) -> float | None:
        """The doubt head's estimate from this image's candidates (None without one)."""
        head = self.serving_head
        if head is None:
            return None
        from models.training.face_doubt import CANDIDATE_SCORE, doubt_features

        found = self._detections(raw, decoded, CANDIDATE_SCORE)
        return head.doubt(doubt_features(found.scores, found.boxes, decoded.width, decoded.height))
