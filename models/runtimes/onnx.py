"""ONNX models through onnxruntime (CPU)."""

from pathlib import Path
from typing import Any

import numpy as np

from models.errors import RuntimeLoadError
from models.runtimes.base import Runtime, TensorInfo

_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _tensor_info(arg: Any) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else -1 for d in arg.shape)
    return TensorInfo(name=arg.name, shape=shape, dtype=np.dtype(_ONNX_TYPES.get(arg.type, object)))


class OnnxRuntime(Runtime):
    """A `.onnx` model on onnxruntime's CPU provider."""

    def __init__(self, path: Path, num_threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = path
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise RuntimeLoadError(f"onnxruntime could not load {path}: {exc}") from exc
        self._inputs = [_tensor_info(a) for a in self._session.get_inputs()]
        self._outputs = [_tensor_info(a) for a in self._session.get_outputs()]
        self._in_names = [t.name for t in self._inputs]
        self._out_names = [t.name for t in self._outputs]

    @property
    def inputs(self) -> list[TensorInfo]:
        return self._inputs

    @property
    def outputs(self) -> list[TensorInfo]:
        return self._outputs

    def invoke(self, *arrays: np.ndarray) -> list[np.ndarray]:
        feed = dict(zip(self._in_names, arrays, strict=True))
        return [np.asarray(a) for a in self._session.run(self._out_names, feed)]
