"""Vision pre- and post-processing as pure numpy/OpenCV: decode, letterbox, BlazeFace SSD decode.

No runtime imports here: the same functions serve the edge agent and the hub.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from contract.errors import ErrorCode
from models.errors import InputError

MAX_SIDE = 8192
# The pixel budget: 12 MP (a 4:3 phone photo, 4K video) decodes to 36 MiB of RGB. A payload
# of a few kB can declare far more (a decompression bomb), so the header is checked first.
MAX_PIXELS = 4096 * 3072
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NUM_KEYPOINTS = 6


# --- decoding ---------------------------------------------------------------------------------


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR or a JPEG SOF marker, without decoding pixels."""
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    return None


def _check_size(width: int, height: int) -> None:
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise InputError(
            ErrorCode.BAD_IMAGE, f"image is {width}x{height}; each side must be 1..{MAX_SIDE} px"
        )
    if width * height > MAX_PIXELS:
        raise InputError(
            ErrorCode.BAD_IMAGE, f"image is {width}x{height}, more than {MAX_PIXELS} pixels"
        )


def decode_image(data: bytes) -> np.ndarray:
    """JPEG/PNG -> HxWx3 RGB uint8; InputError(BAD_IMAGE) otherwise.

    The size in the header must fit the pixel budget before a pixel is decoded: OpenCV
    allocates whatever the header declares. Formats whose header is not read here (WebP,
    TIFF, ... which OpenCV would decode too) are refused for the same reason.
    """
    if not data:
        raise InputError(ErrorCode.BAD_IMAGE, "empty image payload")
    size = _header_size(data)
    if size is None:
        raise InputError(
            ErrorCode.BAD_IMAGE, f"not a JPEG/PNG with a readable size ({len(data)} bytes)"
        )
    _check_size(*size)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(ErrorCode.BAD_IMAGE, f"cannot decode image ({len(data)} bytes)")
    _check_size(image.shape[1], image.shape[0])
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)  # in place: no second copy


# JPEG's DCT scaling decodes at 1/2, 1/4 or 1/8 of the size for less work and memory (a
# 640x480 frame for a 128 px model: 1.57 ms at full size, 0.86 ms at 1/4, measured here).
_REDUCED = (
    (8, cv2.IMREAD_REDUCED_COLOR_8),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
)


@dataclass(frozen=True, slots=True)
class Decoded:
    """An RGB image decoded at `pixels`' size, standing for one of `width` x `height` (the
    payload's size: what boxes are reported in)."""

    pixels: np.ndarray
    width: int
    height: int

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) x, y in `pixels` -> the same points in the original image, in place."""
        h, w = self.pixels.shape[:2]
        if (w, h) != (self.width, self.height):
            points[..., 0] *= self.width / w
            points[..., 1] *= self.height / h
        return points


def decode_at_least(data: bytes, side: int, oversample: float = 2.0) -> Decoded:
    """Like `decode_image`, but a large JPEG is decoded at the smallest DCT scale (1/2, 1/4,
    1/8) that keeps its longer side >= `oversample` x `side` (a model with a `side` x `side`
    input). At 2 the letterbox still averages >= 2x2 source pixels per input pixel, as from
    the full image; at 1 a 640x480 frame for a 192 px model comes out of a 320x240 decode,
    which cost face-detect-full 2 of 30 small faces (docs/models.md). Other images: full size."""
    size = _header_size(data) if data[:2] == b"\xff\xd8" else None
    if size is not None:
        _check_size(*size)
        flag = next((f for n, f in _REDUCED if max(size) >= side * n * oversample), None)
        if flag is not None:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
            if image is None:
                raise InputError(ErrorCode.BAD_IMAGE, f"cannot decode image ({len(data)} bytes)")
            width, height = size
            if (image.shape[1] > image.shape[0]) != (width > height):  # EXIF-rotated by 90°
                width, height = height, width
            return Decoded(cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image), width, height)
    image = decode_image(data)
    return Decoded(image, image.shape[1], image.shape[0])


# --- letterbox --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into the model's square: input px = image px * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Map (..., 2) input-pixel coordinates back to original image pixels."""
        return (xy - np.array([self.pad_x, self.pad_y], np.float32)) / self.scale


def letterbox_params(width: int, height: int, size: int) -> Letterbox:
    scale = size / max(width, height)
    new_w, new_h = round(width * scale), round(height * scale)
    return Letterbox(scale, (size - new_w) // 2, (size - new_h) // 2)


def letterbox(
    image: np.ndarray, size: int, value_range: tuple[float, float] = (-1.0, 1.0)
) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio, pad to size x size; returns (1,size,size,3) float32."""
    height, width = image.shape[:2]
    box = letterbox_params(width, height, size)
    new_w, new_h = round(width * box.scale), round(height * box.scale)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((1, size, size, 3), np.float32)
    lo, hi = value_range
    x0, y0 = int(box.pad_x), int(box.pad_y)
    canvas[0, y0 : y0 + new_h, x0 : x0 + new_w] = resized
    canvas *= (hi - lo) / 255.0
    canvas += lo  # the padding becomes black (lo) too
    return canvas, box


# --- BlazeFace SSD ----------------------------------------------------------------------------


def ssd_anchors(input_size: int, strides: list[int], per_layer: int) -> np.ndarray:
    """MediaPipe SSD anchor centres (fixed anchor size) in input pixels, shape (N, 2).

    Consecutive layers with the same stride share one grid, `per_layer` anchors per cell each
    (short-range: 8,16,16,16 x2 -> 512 + 384 = 896; full-range: 4 x1 -> 48*48 = 2304).
    """
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        repeat = 0
        while layer < len(strides) and strides[layer] == stride:
            repeat += per_layer
            layer += 1
        cells = -(-input_size // stride)
        grid = (np.arange(cells, dtype=np.float32) + 0.5) * stride
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_xy, repeat, axis=0))
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes (N,4: x0,y0,x1,y1), scores (N,) and keypoints (N,6,2), all in the same pixels."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def decode_blazeface(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, min_score: float
) -> Detections:
    """Raw outputs ((1,N,16), (1,N,1)) -> detections above `min_score` in input pixels."""
    if regressors.shape[-2] != len(anchors):
        raise ValueError(f"model has {regressors.shape[-2]} anchors, expected {len(anchors)}")
    logits = np.clip(logits.reshape(-1).astype(np.float64), -100.0, 100.0)
    keep = np.flatnonzero(logits >= np.log(min_score / (1.0 - min_score)))  # sigmoid >= min_score
    scores = 1.0 / (1.0 + np.exp(-logits[keep]))
    raw = regressors.reshape(-1, 16)[keep]
    centres = anchors[keep]
    cxcy = raw[:, 0:2] + centres
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([cxcy - half, cxcy + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, NUM_KEYPOINTS, 2) + centres[:, None, :]
    return Detections(boxes, scores.astype(np.float32), keypoints)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box with (N,4) boxes."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def weighted_nms(detections: Detections, iou_threshold: float) -> Detections:
    """MediaPipe WEIGHTED non-max suppression: overlapping boxes are blended by score."""
    order = np.argsort(-detections.scores, kind="stable")
    boxes, scores = detections.boxes[order], detections.scores[order]
    keypoints = detections.keypoints[order]
    out_boxes, out_scores, out_kps = [], [], []
    while len(scores):
        overlap = box_iou(boxes[0], boxes) > iou_threshold
        overlap[0] = True
        weights = scores[overlap][:, None]
        total = weights.sum()
        out_boxes.append((boxes[overlap] * weights).sum(axis=0) / total)
        out_kps.append((keypoints[overlap] * weights[:, :, None]).sum(axis=0) / total)
        out_scores.append(scores[0])
        rest = ~overlap
        boxes, scores, keypoints = boxes[rest], scores[rest], keypoints[rest]
    if not out_scores:
        return Detections(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
        )
    return Detections(np.stack(out_boxes), np.array(out_scores), np.stack(out_kps))


def to_image_pixels(detections: Detections, box: Letterbox, width: int, height: int) -> Detections:
    """Map detections from input pixels back to the original image, clipping boxes to it."""
    corners = box.to_image(detections.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    corners[:, 0::2] = np.clip(corners[:, 0::2], 0, width)
    corners[:, 1::2] = np.clip(corners[:, 1::2], 0, height)
    return Detections(corners, detections.scores, box.to_image(detections.keypoints))
