"""Int8 weights through `ai-edge-quantizer` (Google's quantiser for LiteRT files, no TensorFlow).

The recipe is dynamic-range int8: weights stored as int8 with per-channel scales, activations
kept in float32, inputs and outputs unchanged — so a compressed model drops into the same
pipeline code. Full int8 (activations calibrated on the representative set) was measured too
and is not offered: on face-detect-full it came out larger than the target (37 % of the float32
bytes), 7 points less accurate and slower on XNNPACK (docs/models.md "Compression").
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from models.errors import ModelError


class CompressError(ModelError):
    """A model that cannot be compressed (already int8, no representative set, no quantiser)."""


def dynamic_int8(float32_model: bytes) -> bytes:
    """int8 weights, float32 activations; the input model needs a signature (to_float32)."""
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError as exc:
        raise CompressError(
            f"ai-edge-quantizer is not installed (pip install 'edgefleet[compress]'): {exc}"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="edgefleet-compress-") as tmp:
        source = Path(tmp) / "float32.tflite"
        source.write_bytes(float32_model)
        qt = quantizer.Quantizer(str(source), recipe.dynamic_wi8_afp32())
        result = qt.quantize(enable_progress_bar=False, enable_progress_report=False)
        target = Path(tmp) / "int8.tflite"
        result.export_model(str(target), overwrite=True)
        return target.read_bytes()
