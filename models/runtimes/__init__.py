"""Runtimes as plugins, one file each, behind `base.Runtime`; `load_runtime` picks by suffix."""

from collections.abc import Sequence
from pathlib import Path

from models.errors import RuntimeLoadError
from models.runtimes.base import Runtime, TensorInfo

__all__ = ["Runtime", "TensorInfo", "load_runtime"]


def load_runtime(
    path: Path | str,
    num_threads: int = 1,
    input_shapes: Sequence[Sequence[int]] | None = None,
) -> Runtime:
    """LiteRT for `.tflite` (tflite_runtime as fallback), onnxruntime for `.onnx`.

    `input_shapes` resizes dynamic inputs before allocation (TFLite only).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from models.runtimes.litert import LiteRTRuntime

        return LiteRTRuntime(path, num_threads=num_threads, input_shapes=input_shapes)
    if suffix == ".onnx":
        if input_shapes is not None:
            raise RuntimeLoadError("input_shapes is only supported for TFLite models")
        from models.runtimes.onnx import OnnxRuntime

        return OnnxRuntime(path, num_threads=num_threads)
    raise RuntimeLoadError(f"no runtime for {path.name!r}: expected .tflite or .onnx")
