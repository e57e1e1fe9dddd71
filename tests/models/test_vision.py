"""Vision processing: decoding, letterbox mapping, anchors, NMS and BlazeFace on a real photo."""

from collections.abc import Callable
from io import BytesIO

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from contract.errors import ErrorCode
from models.datasets.faces import generate
from models.errors import InputError
from models.pipelines import AnyPipeline
from models.processing import vision

# The astronaut's face in skimage.data.astronaut() (512x512), forehead to chin and ear to ear,
# drawn and checked by eye: x0, y0, x1, y1.
ASTRONAUT_FACE = np.array([176.0, 75.0, 276.0, 175.0])


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(vision.box_iou(a, b[None])[0])


@pytest.mark.parametrize(
    ("strides", "per_layer", "size", "count"), [([8, 16, 16, 16], 2, 128, 896), ([4], 1, 192, 2304)]
)
def test_anchor_counts(strides: list[int], per_layer: int, size: int, count: int) -> None:
    anchors = vision.ssd_anchors(size, strides, per_layer)
    assert anchors.shape == (count, 2)
    assert anchors.min() == strides[0] / 2
    assert anchors.max() < size


@pytest.mark.parametrize("model_id", ["face-detect-lite", "face-detect-full"])
def test_anchors_match_the_model_outputs(pipelines: dict[str, AnyPipeline], model_id: str) -> None:
    pipeline = pipelines[model_id]
    assert pipeline.runtime.outputs[pipeline._reg_out].shape[1] == len(pipeline.anchors)


@pytest.mark.parametrize("model_id", ["face-detect-lite", "face-detect-full"])
def test_astronaut_face_is_found(pipelines: dict[str, AnyPipeline], model_id: str) -> None:
    out = pipelines[model_id].run(_jpeg(data.astronaut()))
    assert out.image_size == (512, 512)
    assert len(out.faces) == 1
    best = max(out.faces, key=lambda f: f.score)
    assert best.score > 0.8
    assert _iou(np.array(best.box), ASTRONAUT_FACE) >= 0.5
    assert len(best.keypoints) == 6
    (rx, ry), (lx, ly) = best.keypoints[0], best.keypoints[1]  # eyes inside the box, level
    assert ASTRONAUT_FACE[0] < min(rx, lx)
    assert max(rx, lx) < ASTRONAUT_FACE[2]
    assert abs(ry - ly) < 15


@pytest.mark.parametrize("model_id", ["face-detect-lite", "face-detect-full"])
@pytest.mark.parametrize(
    ("y0", "y1", "x0", "x1"), [(0, 200, 100, 400), (0, 320, 120, 320)], ids=["wide", "tall"]
)
def test_boxes_map_back_through_a_non_square_letterbox(
    pipelines: dict[str, AnyPipeline], model_id: str, y0: int, y1: int, x0: int, x1: int
) -> None:
    crop = np.ascontiguousarray(data.astronaut()[y0:y1, x0:x1])
    out = pipelines[model_id].run(_jpeg(crop))
    assert out.image_size == (x1 - x0, y1 - y0)
    best = max(out.faces, key=lambda f: f.score)
    assert _iou(np.array(best.box), ASTRONAUT_FACE - [x0, y0, x0, y0]) >= 0.5


def test_letterbox_params_round_trip() -> None:
    box = vision.letterbox_params(width=640, height=480, size=128)
    assert box.scale == pytest.approx(0.2)
    assert (box.pad_x, box.pad_y) == (0, 16)
    corners = np.array([[0.0, 0.0], [640.0, 480.0], [320.0, 240.0]], np.float32)
    mapped = corners * box.scale + [box.pad_x, box.pad_y]
    np.testing.assert_allclose(box.to_image(mapped), corners, atol=1e-4)


def test_letterbox_pads_with_black_and_scales_to_range() -> None:
    image = np.full((50, 100, 3), 255, np.uint8)
    tensor, box = vision.letterbox(image, 64)
    assert tensor.shape == (1, 64, 64, 3)
    assert tensor.dtype == np.float32
    assert (box.pad_x, box.pad_y) == (0, 16)
    assert tensor[0, 0].max() == -1.0
    assert tensor[0, -1].max() == -1.0
    np.testing.assert_allclose(tensor[0, 16:48], 1.0)


def test_weighted_nms_blends_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    keypoints = np.zeros((3, 6, 2), np.float32)
    out = vision.weighted_nms(vision.Detections(boxes, scores, keypoints), 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out.boxes[0], [0.25, 0.25, 10.25, 10.25], atol=1e-5)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8])
    empty = vision.weighted_nms(vision.Detections(boxes[:0], scores[:0], keypoints[:0]), 0.3)
    assert len(empty) == 0


def test_decode_image_returns_rgb() -> None:
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255
    _ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    decoded = vision.decode_image(png.tobytes())
    assert decoded.shape == (4, 6, 3)
    assert decoded[0, 0].tolist() == [255, 0, 0]


def _png_header(width: int, height: int) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0\0\0\0"


def _webp() -> bytes:
    ok, buf = cv2.imencode(".webp", np.zeros((8, 8, 3), np.uint8))
    assert ok
    return bytes(buf.tobytes())


def _jpeg_sof(width: int, height: int) -> bytes:
    """SOI and a baseline SOF0 declaring the size; nothing to decode after it."""
    sof = height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x03" + bytes(9)
    return b"\xff\xd8\xff\xc0" + (8 + 9).to_bytes(2, "big") + b"\x08" + sof + bytes(16)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not an image at all",
        _jpeg(data.astronaut())[:200],
        _jpeg(data.astronaut())[:-200],
        _png_header(100_000, 100_000),
        _png_header(20_000, 20_000),
        _png_header(4097, 3073),
        _jpeg_sof(65_000, 65_000),
        _webp(),
        b"P6\n30000 30000\n255\n" + bytes(64),
    ],
    ids=[
        "empty",
        "garbage",
        "truncated-header",
        "truncated-scan",
        "absurd-png",
        "bomb-png",
        "over-budget",
        "bomb-jpeg",
        "webp",
        "ppm",
    ],
)
@pytest.mark.parametrize(
    "decode",
    [vision.decode_image, lambda p: vision.decode_at_least(p, 128)],
    ids=["full", "reduced"],
)
def test_bad_images_raise_input_error(payload: bytes, decode: Callable[[bytes], object]) -> None:
    with pytest.raises(InputError) as info:
        decode(payload)
    assert info.value.code is ErrorCode.BAD_IMAGE


def test_pixel_budget_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bomb never reaches OpenCV, which would allocate every pixel the header declares."""
    calls: list[int] = []
    monkeypatch.setattr(vision.cv2, "imdecode", lambda *a: calls.append(1))
    with pytest.raises(InputError, match="4097x3073"):
        vision.decode_image(_png_header(4097, 3073))
    assert not calls


def test_pipeline_rejects_bad_image(pipelines: dict[str, AnyPipeline]) -> None:
    with pytest.raises(InputError) as info:
        pipelines["face-detect-lite"].run(b"\xff\xd8garbage")
    assert info.value.code is ErrorCode.BAD_IMAGE


@pytest.mark.parametrize(
    ("side", "oversample", "shape"),
    [
        (128, 1.0, (120, 160)),
        (192, 1.0, (240, 320)),
        (320, 1.0, (240, 320)),
        (321, 1.0, (480, 640)),
        (128, 2.0, (240, 320)),
        (192, 2.0, (480, 640)),
        (80, 2.0, (120, 160)),
    ],
)
def test_a_large_jpeg_is_decoded_at_the_smallest_scale_the_model_needs(
    side: int, oversample: float, shape: tuple[int, int]
) -> None:
    """The longer side stays >= oversample x the model's input; the original size is kept for
    the boxes."""
    frame = cv2.resize(data.astronaut(), (640, 480))
    decoded = vision.decode_at_least(_jpeg(frame), side, oversample)
    assert decoded.pixels.shape[:2] == shape
    assert (decoded.width, decoded.height) == (640, 480)


def test_a_png_is_decoded_at_full_size() -> None:
    _ok, png = cv2.imencode(".png", cv2.resize(data.astronaut(), (640, 480)))
    decoded = vision.decode_at_least(png.tobytes(), 128)
    assert decoded.pixels.shape[:2] == (480, 640)


def test_an_exif_rotated_jpeg_keeps_its_displayed_size() -> None:
    """OpenCV applies the EXIF orientation: a 640x480 frame tagged 'rotate 90' is 480x640."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    buf = BytesIO()
    Image.fromarray(cv2.resize(data.astronaut(), (640, 480))).save(buf, "JPEG", exif=exif)
    decoded = vision.decode_at_least(buf.getvalue(), 128, 1.0)
    assert decoded.pixels.shape[:2] == (160, 120)
    assert (decoded.width, decoded.height) == (480, 640)
    assert vision.decode_image(buf.getvalue()).shape[:2] == (640, 480)


@pytest.mark.parametrize("model_id", ["face-detect-lite", "face-detect-full"])
def test_faces_in_a_reduced_decode_are_reported_in_the_original_pixels(
    pipelines: dict[str, AnyPipeline], model_id: str
) -> None:
    """An astronaut at 3x: decoded at 1/8 (lite) or 1/4 (full), found where the full decode
    finds it."""
    big = cv2.resize(data.astronaut(), (1536, 1536), interpolation=cv2.INTER_CUBIC)
    pipeline = pipelines[model_id]
    assert pipeline.decode(_jpeg(big)).pixels.shape[0] in (192, 384)
    out = pipeline.run(_jpeg(big))
    assert out.image_size == (1536, 1536)
    best = max(out.faces, key=lambda f: f.score)
    assert _iou(np.array(best.box), ASTRONAUT_FACE * 3) >= 0.5
    full = pipeline.detect(vision.decode_image(_jpeg(big)))
    assert _iou(np.array(best.box), full.boxes[int(np.argmax(full.scores))]) >= 0.85
    eye = np.array(best.keypoints[0])
    assert np.abs(eye - full.keypoints[int(np.argmax(full.scores))][0]).max() < 3 * 6


@pytest.mark.parametrize("model_id", ["face-detect-lite", "face-detect-full"])
def test_a_batch_answers_each_image_as_alone(
    pipelines: dict[str, AnyPipeline], model_id: str
) -> None:
    """The hub's batches run over copies of the pipeline, one per lane: same answers, in
    order, and a bad image fails alone."""
    pipeline = pipelines[model_id]
    samples = generate(5, seed=12)
    payloads = [samples[0].jpeg, b"not an image", *(s.jpeg for s in samples[1:])]
    batch = pipeline.run_batch(payloads)  # type: ignore[attr-defined]
    assert isinstance(batch[1], InputError)
    assert batch[1].code is ErrorCode.BAD_IMAGE
    alone = [pipeline.run(p) for p in payloads if p != payloads[1]]
    assert [b for i, b in enumerate(batch) if i != 1] == alone
