"""The MLP as an ONNX graph built by hand (Gemm -> Relu -> Gemm -> Softmax), for onnxruntime.

Input `readings` (N, inputs) float32 (features from `models.datasets.engine.to_features`),
output `probabilities` (N, outputs). Needs the `onnx` package (the hub, not the device).
"""

import numpy as np

from models.training.mlp import Shape

INPUT, OUTPUT = "readings", "probabilities"
OPSET = 13


def export_onnx(shape: Shape, params: np.ndarray, *, name: str = "engine-fault") -> bytes:
    """Serialized ONNX model bytes for `params` (deterministic for the same inputs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, b1, w2, b2 = (np.ascontiguousarray(a, dtype=np.float32) for a in shape.unflatten(params))
    inits = [
        numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "b1"), (w2, "W2"), (b2, "b2"))
    ]
    nodes = [
        helper.make_node("Gemm", [INPUT, "W1", "b1"], ["h0"], name="dense1"),
        helper.make_node("Relu", ["h0"], ["h1"], name="relu"),
        helper.make_node("Gemm", ["h1", "W2", "b2"], ["logits"], name="dense2"),
        helper.make_node("Softmax", ["logits"], [OUTPUT], axis=1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", shape.inputs])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", shape.outputs])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgefleet"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def params_from_onnx(shape: Shape, data: bytes) -> np.ndarray:
    """The flat parameter vector back out of a model written by `export_onnx`."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    flat = np.concatenate([arrays[n].ravel() for n in ("W1", "b1", "W2", "b2")])
    if flat.shape != (shape.size,):
        raise ValueError(f"model holds {flat.size} parameters, expected {shape.size}")
    return flat.astype(np.float32)
