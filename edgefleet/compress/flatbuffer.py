"""TFLite flatbuffer surgery before quantisation, with the schema `ai-edge-litert` ships.

MediaPipe's models store their weights as float16 constants expanded by DEQUANTIZE ops at load
time. Quantisers only touch float32 weights, so those files are first turned into the plain
float32 model they describe (each DEQUANTIZE of a constant folded into a float32 constant, the
float16 tensors dropped); that model computes exactly what the original does (checked in
tests), and it is the "fp32 bytes" the int8 file is compared with. A signature is added where
the file has none: ai-edge-quantizer addresses a model through its signatures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SIGNATURE = "serving_default"


def _schema() -> tuple[Any, Any]:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    return schema, flatbuffer_utils


def float_weights(data: bytes) -> bool:
    """Whether the model's constant weights are floating point (there is something to do)."""
    schema, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(data))
    floats = (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)
    return any(
        t.type in floats and t.buffer > 0 and model.buffers[t.buffer].data is not None
        for sg in model.subgraphs
        for t in sg.tensors
    )


def to_float32(data: bytes) -> bytes:
    """The same model with float32 constants instead of float16 + DEQUANTIZE, and a
    `serving_default` signature over the subgraph's inputs and outputs when it has none."""
    schema, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(data))
    dequantize = {
        i
        for i, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE
    }
    for sg in model.subgraphs:
        kept = []
        for op in sg.operators:
            src = sg.tensors[op.inputs[0]] if op.opcodeIndex in dequantize else None
            buffer = model.buffers[src.buffer] if src is not None else None
            if src is None or buffer is None or buffer.data is None or len(buffer.data) == 0:
                kept.append(op)
                continue
            if src.type != schema.TensorType.FLOAT16:
                kept.append(op)  # a real (int8) DEQUANTIZE: keep it
                continue
            values = np.frombuffer(bytes(bytearray(buffer.data)), np.float16).astype("<f4")
            folded = schema.BufferT()
            folded.data = values.tobytes()
            model.buffers.append(folded)
            sg.tensors[op.outputs[0]].buffer = len(model.buffers) - 1
            buffer.data = None
        sg.operators = kept
        _drop_unused_tensors(sg)
    if not model.signatureDefs and len(model.subgraphs) == 1:
        model.signatureDefs = [_signature(schema, model.subgraphs[0])]
    return bytes(fb.convert_object_to_bytearray(model))


def _drop_unused_tensors(sg: Any) -> None:
    used = sorted(
        {i for op in sg.operators for i in (*op.inputs, *op.outputs) if i >= 0}
        | set(sg.inputs)
        | set(sg.outputs)
    )
    index = {old: new for new, old in enumerate(used)}
    sg.tensors = [sg.tensors[i] for i in used]
    for op in sg.operators:
        op.inputs = [index[i] if i >= 0 else i for i in op.inputs]  # -1: optional input
        op.outputs = [index[i] for i in op.outputs]
    sg.inputs = [index[i] for i in sg.inputs]
    sg.outputs = [index[i] for i in sg.outputs]


def _signature(schema: Any, sg: Any) -> Any:
    def entry(i: int) -> Any:
        t = schema.TensorMapT()
        t.name, t.tensorIndex = sg.tensors[i].name, i
        return t

    sig = schema.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = SIGNATURE, 0
    sig.inputs = [entry(i) for i in sg.inputs]
    sig.outputs = [entry(i) for i in sg.outputs]
    return sig
