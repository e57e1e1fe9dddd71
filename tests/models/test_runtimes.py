"""Runtimes behind one interface: LiteRT for .tflite, onnxruntime for .onnx."""

from pathlib import Path

import numpy as np
import pytest

from models.catalogue import Catalogue
from models.errors import RuntimeLoadError
from models.fetch import model_path
from models.pipelines.wakeword import microfrontend_features
from models.runtimes import load_runtime
from models.runtimes.litert import LiteRTRuntime


def test_litert_face_model(catalogue: Catalogue, model_dir: Path) -> None:
    spec = catalogue.get("face-detect-lite")
    runtime = load_runtime(model_path(spec, model_dir) / spec.files[0].name)
    assert isinstance(runtime, LiteRTRuntime)
    assert runtime.inputs[0].shape == (1, 128, 128, 3)
    outputs = runtime.invoke(np.zeros((1, 128, 128, 3), np.float32))
    assert sorted(o.shape for o in outputs) == [(1, 896, 1), (1, 896, 16)]
    runtime.reset()


def test_reset_clears_microwakeword_streaming_state(catalogue: Catalogue, model_dir: Path) -> None:
    """reset_all_variables() alone leaves resource variables: the runtime must really reset."""
    spec = catalogue.get("wakeword-lite")
    runtime = load_runtime(model_path(spec, model_dir) / "hey_mycroft.tflite")
    assert getattr(runtime, "has_resource_variables", False)
    rng = np.random.default_rng(0)
    noise = microfrontend_features((rng.normal(0, 3000, 16000)).astype(np.int16))
    blocks = np.clip(np.round(noise[:96] / runtime.inputs[0].scale - 128), -128, 127)
    blocks = blocks.astype(np.int8).reshape(-1, 1, 3, 40)

    def run() -> list[int]:
        return [int(runtime.invoke(b)[0].item()) for b in blocks]

    first = run()
    runtime.reset()
    assert run() == first


def test_onnx_runtime(tmp_path: Path) -> None:
    import onnx

    helper = onnx.helper
    weights = helper.make_tensor("w", onnx.TensorProto.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "mlp.onnx"
    onnx.save(model, str(path))
    runtime = load_runtime(path, num_threads=1)
    assert runtime.inputs[0].shape == (1, 3)
    (y,) = runtime.invoke(np.array([[1, 1, 1]], np.float32))
    np.testing.assert_allclose(y, [[9, 12]])
    runtime.reset()


@pytest.mark.parametrize("name", ["model.pt", "model"])
def test_unknown_suffix_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(RuntimeLoadError, match=r"expected \.tflite or \.onnx"):
        load_runtime(tmp_path / name)


def test_corrupt_tflite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"not a flatbuffer")
    with pytest.raises(RuntimeLoadError, match=r"broken\.tflite"):
        load_runtime(path)
