"""Face-detection data with known boxes: real faces from scikit-image composited onto scenes.

Sources of real faces (all ship inside the `scikit-image` wheel, nothing is downloaded):

- `astronaut`: Eileen Collins, frontal colour portrait (the main source);
- `camera`: the cameraman, a grey-scale profile face (hard for frontal detectors);
- `lfw`: `skimage.data.lfw_subset()`'s 100 tiny (25x25 grey) Labeled-Faces-in-the-Wild crops,
  composited small, like faces far away from a room camera.

Backgrounds are non-face skimage images (rocket, coffee, brick, grass, gravel, Hubble deep
field, moon, clock, page; not `coins`: they show heads). Each sample is a `width` x `height`
JPEG with 0..`max_faces` faces at random (seeded) positions, scales, small rotations, then
global brightness and Gaussian noise.

Ground truth: for each pasted face the axis-aligned box, in output pixels, of the source's
tight face box (forehead to chin, ear to ear) after scaling and rotation. The pasted crop is a
feathered ellipse with some margin around that box, so hair and neck come along as in a photo.

`generate(n, seed)` is deterministic: sample *i* uses `numpy.random.default_rng([seed, i])`.
`load_faces(n, seed)` caches the JPEGs and `labels.json` under `<data dir>/faces/`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from models.datasets import default_data_dir
from models.files import write_atomic

Image = npt.NDArray[np.uint8]
BoxT = tuple[float, float, float, float]

DEFAULT_SIZE = (640, 480)
JPEG_QUALITY = 90
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FaceSource:
    name: str
    face: BoxT  # tight face box in source pixels (x0, y0, x1, y1)
    pose: str  # "frontal" | "profile"
    margin: float  # crop = face box grown by this factor (around its centre)
    min_face: int  # smallest / largest face width in output pixels
    max_face: int


# Face boxes measured on the 512x512 originals (OpenCV's Haar cascade, checked by eye).
SOURCES: dict[str, FaceSource] = {
    "astronaut": FaceSource("astronaut", (177.0, 66.0, 272.0, 161.0), "frontal", 1.9, 48, 200),
    "camera": FaceSource("camera", (172.0, 82.0, 266.0, 200.0), "profile", 1.7, 56, 180),
    "lfw": FaceSource("lfw", (0.0, 0.0, 25.0, 25.0), "frontal", 1.0, 22, 44),
}
SOURCE_WEIGHTS: dict[str, float] = {"astronaut": 0.7, "camera": 0.15, "lfw": 0.15}

BACKGROUNDS: tuple[str, ...] = (
    "rocket",
    "coffee",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "moon",
    "clock",
    "page",
)


@dataclass(frozen=True)
class PlacedFace:
    box: BoxT  # ground truth, output pixels
    source: str
    pose: str
    scale: float  # output face width / source face width
    angle_deg: float


@dataclass(frozen=True)
class FaceSample:
    """One labelled image: JPEG bytes and the faces it contains (empty for a negative)."""

    index: int
    jpeg: bytes
    width: int
    height: int
    background: str
    brightness: float
    noise_sigma: float
    faces: list[PlacedFace] = field(default_factory=list)

    @property
    def boxes(self) -> list[BoxT]:
        return [f.box for f in self.faces]

    @property
    def has_face(self) -> bool:
        return bool(self.faces)

    def label(self) -> dict[str, Any]:
        """JSON-able metadata (everything but the JPEG)."""
        d = asdict(self)
        d.pop("jpeg")
        return d


# ---------------------------------------------------------------------------------- sources


def _rgb(image: npt.NDArray[Any]) -> Image:
    if image.dtype != np.uint8:
        image = np.clip(np.asarray(image, dtype=np.float64) * 255.0, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


@cache
def _skimage(name: str) -> Image:
    import skimage.data

    loader: Callable[[], npt.NDArray[Any]] = getattr(skimage.data, name)
    return _rgb(loader())


@cache
def _lfw_faces() -> tuple[Image, ...]:
    import skimage.data

    faces = skimage.data.lfw_subset()[:100]  # type: ignore[no-untyped-call]  # the first 100 are faces, the rest are not
    return tuple(_rgb(f) for f in faces)


def _source_image(source: FaceSource, rng: np.random.Generator) -> Image:
    if source.name == "lfw":
        faces = _lfw_faces()
        return faces[int(rng.integers(len(faces)))]
    return _skimage(source.name)


def _crop(image: Image, source: FaceSource) -> tuple[Image, BoxT]:
    """Square crop (padded by edge replication) of `margin` times the face box; face box in crop."""
    x0, y0, x1, y1 = source.face
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * source.margin / 2
    ix0, iy0 = round(cx - half), round(cy - half)
    side = round(2 * half)
    pad = side
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[iy0 + pad : iy0 + pad + side, ix0 + pad : ix0 + pad + side]
    return np.ascontiguousarray(crop), (x0 - ix0, y0 - iy0, x1 - ix0, y1 - iy0)


def _background(name: str, width: int, height: int, rng: np.random.Generator) -> Image:
    img = _skimage(name)
    h, w = img.shape[:2]
    # random crop with the output's aspect ratio covering 60..100 % of the shorter side
    aspect = width / height
    frac = float(rng.uniform(0.6, 1.0))
    ch = min(h, round(w / aspect)) * frac
    cw = ch * aspect
    x = float(rng.uniform(0, max(w - cw, 0)))
    y = float(rng.uniform(0, max(h - ch, 0)))
    crop = img[round(y) : round(y + ch), round(x) : round(x + cw)]
    out = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


# -------------------------------------------------------------------------------- compositing


def _overlaps(box: BoxT, others: Sequence[BoxT], gap: float = 8.0) -> bool:
    return any(
        box[0] < o[2] + gap and o[0] < box[2] + gap and box[1] < o[3] + gap and o[1] < box[3] + gap
        for o in others
    )


def _paste(
    canvas: npt.NDArray[np.float32],
    crop: Image,
    face_in_crop: BoxT,
    face_w: float,
    angle_deg: float,
    centre: tuple[float, float],
) -> BoxT:
    """Alpha-blend the scaled, rotated crop with its face centred at `centre`; return GT box."""
    fx0, fy0, fx1, fy1 = face_in_crop
    scale = face_w / (fx1 - fx0)
    side = crop.shape[0]
    out_side = max(4, math.ceil(side * scale * 1.5))  # room for the rotation
    fcx, fcy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    # affine map: crop -> patch, face centre lands in the patch centre, rotated by angle
    m = np.asarray(cv2.getRotationMatrix2D((fcx, fcy), angle_deg, scale), dtype=np.float64)
    m[0, 2] += out_side / 2 - fcx
    m[1, 2] += out_side / 2 - fcy
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.warpAffine(crop, m, (out_side, out_side), flags=interp)
    # feathered elliptical alpha mask covering the crop
    mask: npt.NDArray[Any] = np.zeros((side, side), np.float32)
    cv2.ellipse(
        mask, (side // 2, side // 2), (int(side * 0.47), int(side * 0.49)), 0, 0, 360, 1.0, -1
    )
    if side >= 16:
        k = max(3, (side // 12) | 1)
        mask = cv2.GaussianBlur(mask, (k, k), 0)
    else:
        mask[:] = 1.0  # tiny LFW crops: paste the square
    alpha = cv2.warpAffine(mask, m, (out_side, out_side), flags=cv2.INTER_LINEAR)

    h, w = canvas.shape[:2]
    px0 = round(centre[0] - out_side / 2)
    py0 = round(centre[1] - out_side / 2)
    sx0, sy0 = max(0, -px0), max(0, -py0)
    dx0, dy0 = max(0, px0), max(0, py0)
    dx1, dy1 = min(w, px0 + out_side), min(h, py0 + out_side)
    if dx1 > dx0 and dy1 > dy0:
        a = alpha[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0, None]
        p = patch[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0].astype(np.float32)
        region = canvas[dy0:dy1, dx0:dx1]
        canvas[dy0:dy1, dx0:dx1] = region * (1 - a) + p * a

    # ground truth: bounding box of the rotated ellipse inscribed in the scaled face box
    a_half = (fx1 - fx0) * scale / 2
    b_half = (fy1 - fy0) * scale / 2
    t = math.radians(angle_deg)
    hw = math.sqrt((a_half * math.cos(t)) ** 2 + (b_half * math.sin(t)) ** 2)
    hh = math.sqrt((a_half * math.sin(t)) ** 2 + (b_half * math.cos(t)) ** 2)
    # the face box's centre sits at the patch centre, i.e. at `centre` (up to rounding)
    cx = px0 + out_side / 2
    cy = py0 + out_side / 2
    return (cx - hw, cy - hh, cx + hw, cy + hh)


def make_sample(
    index: int,
    seed: int = 0,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    max_faces: int = 3,
    negative_fraction: float = 0.25,
    sources: Sequence[str] | None = None,
    jpeg_quality: int = JPEG_QUALITY,
) -> FaceSample:
    """Render sample `index` of the data set `seed` (pure function of its arguments)."""
    width, height = size
    rng = np.random.default_rng([seed, index])
    names = list(sources) if sources is not None else list(SOURCE_WEIGHTS)
    weights = np.array([SOURCE_WEIGHTS.get(n, 1.0) for n in names], dtype=np.float64)
    weights /= weights.sum()

    background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    canvas = _background(background, width, height, rng).astype(np.float32)
    n_faces = 0 if rng.random() < negative_fraction else int(rng.integers(1, max_faces + 1))

    placed: list[PlacedFace] = []
    for _ in range(n_faces):
        source = SOURCES[names[int(rng.choice(len(names), p=weights))]]
        image = _source_image(source, rng)
        crop, face_in_crop = _crop(image, source)
        max_face = min(source.max_face, int(min(width, height) * 0.45))
        face_w = float(np.exp(rng.uniform(np.log(source.min_face), np.log(max_face))))
        angle = float(rng.uniform(-15, 15))
        if rng.random() < 0.5 and source.pose == "profile":
            crop = np.ascontiguousarray(crop[:, ::-1])  # look the other way
            s = crop.shape[1]
            fx0, fy0, fx1, fy1 = face_in_crop
            face_in_crop = (s - fx1, fy0, s - fx0, fy1)
        aspect = (face_in_crop[3] - face_in_crop[1]) / (face_in_crop[2] - face_in_crop[0])
        for _attempt in range(20):  # find a spot that keeps the face fully inside, no overlap
            margin_x = face_w * 0.75
            margin_y = face_w * aspect * 0.75
            if width - 2 * margin_x <= 0 or height - 2 * margin_y <= 0:
                break
            cx = float(rng.uniform(margin_x, width - margin_x))
            cy = float(rng.uniform(margin_y, height - margin_y))
            guess = (cx - margin_x, cy - margin_y, cx + margin_x, cy + margin_y)
            if not _overlaps(guess, [f.box for f in placed]):
                box = _paste(canvas, crop, face_in_crop, face_w, angle, (cx, cy))
                box = (
                    max(0.0, box[0]),
                    max(0.0, box[1]),
                    min(float(width), box[2]),
                    min(float(height), box[3]),
                )
                scale = face_w / (source.face[2] - source.face[0])
                placed.append(PlacedFace(box, source.name, source.pose, scale, angle))
                break

    brightness = float(rng.uniform(0.6, 1.35))
    noise_sigma = float(rng.choice([0.0, 3.0, 6.0, 12.0]))
    canvas *= brightness
    if noise_sigma > 0:
        canvas += rng.normal(0.0, noise_sigma, canvas.shape).astype(np.float32)
    out = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB image
        raise RuntimeError("JPEG encoding failed")
    return FaceSample(
        index, buf.tobytes(), width, height, background, brightness, noise_sigma, placed
    )


def generate(n: int, seed: int = 0, **kwargs: Any) -> list[FaceSample]:
    """`n` samples of data set `seed`, without touching the disk."""
    return [make_sample(i, seed, **kwargs) for i in range(n)]


def _from_label(label: dict[str, Any], jpeg: bytes) -> FaceSample:
    faces = [
        PlacedFace(tuple(f["box"]), f["source"], f["pose"], f["scale"], f["angle_deg"])  # type: ignore[arg-type]
        for f in label["faces"]
    ]
    return FaceSample(
        label["index"],
        jpeg,
        label["width"],
        label["height"],
        label["background"],
        label["brightness"],
        label["noise_sigma"],
        faces,
    )


def load_faces(
    n: int = 200,
    seed: int = 0,
    data_dir: Path | None = None,
    **kwargs: Any,
) -> list[FaceSample]:
    """Like `generate`, cached as `<data dir>/faces/<key>/{labels.json,NNNNN.jpg}`."""
    opts = json.dumps(kwargs, sort_keys=True, default=list)
    key = f"v{FORMAT_VERSION}-seed{seed}-{abs(hash_str(opts)):08x}"
    root = (data_dir or default_data_dir()) / "faces" / key
    labels_path = root / "labels.json"
    cached: dict[int, dict[str, Any]] = {}
    if labels_path.exists():
        try:
            cached = {int(k): v for k, v in json.loads(labels_path.read_text()).items()}
        except (ValueError, OSError):
            cached = {}
    samples: list[FaceSample] = []
    dirty = False
    for i in range(n):
        jpg = root / f"{i:05d}.jpg"
        if i in cached and jpg.exists():
            samples.append(_from_label(cached[i], jpg.read_bytes()))
            continue
        sample = make_sample(i, seed, **kwargs)
        root.mkdir(parents=True, exist_ok=True)
        write_atomic(jpg, sample.jpeg)
        cached[i] = sample.label()
        samples.append(sample)
        dirty = True
    if dirty:
        write_atomic(
            labels_path, json.dumps({str(k): v for k, v in sorted(cached.items())}, indent=1)
        )
    return samples


def hash_str(text: str) -> int:
    """Stable (not salted per process) 32-bit hash of a string."""
    import zlib

    return zlib.crc32(text.encode())


def face_image(
    seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE, face_width: float = 150.0
) -> FaceSample:
    """One realistic frame with a single, clearly visible frontal face (bench and demo input)."""
    width, height = size
    rng = np.random.default_rng([seed, 10_000_019])
    canvas = _background("coffee", width, height, rng).astype(np.float32)
    source = SOURCES["astronaut"]
    crop, face_in_crop = _crop(_skimage("astronaut"), source)
    centre = (width * float(rng.uniform(0.35, 0.65)), height * float(rng.uniform(0.4, 0.6)))
    box = _paste(canvas, crop, face_in_crop, face_width, 0.0, centre)
    scale = face_width / (source.face[2] - source.face[0])
    out = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    face = PlacedFace(box, "astronaut", "frontal", scale, 0.0)
    return FaceSample(-1, buf.tobytes(), width, height, "coffee", 1.0, 0.0, [face])


__all__ = [
    "BACKGROUNDS",
    "SOURCES",
    "FaceSample",
    "FaceSource",
    "PlacedFace",
    "face_image",
    "generate",
    "load_faces",
    "make_sample",
]
