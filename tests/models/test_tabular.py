"""Engine readings (`engine-fault` input): any JSON a client sends is a reading or a ValueError
(the pipeline's `bad_json`), never another exception or a NaN answer."""

import json
from typing import Any

import pytest

from contract.errors import ErrorCode
from models.datasets.engine import MODES, NUMERIC, RANGES, parse_reading
from models.errors import InputError
from models.pipelines import AnyPipeline

READING: dict[str, Any] = {k: sum(RANGES[k]) / 2 for k in NUMERIC} | {"operating_mode": MODES[0]}


def _with(value: Any) -> bytes:
    return json.dumps(READING | {NUMERIC[0]: value}).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000,  # json.loads: RecursionError
        _with(10**400),  # numpy: TypeError (no float for it)
        _with(1e308),  # finite, but inf as a float32 feature: NaN probabilities
        _with(float("nan")),
        _with(True),
        _with("90"),
        b'{"rpm": 1}',
        b"\xff\xfe",
    ],
    ids=["deep", "huge-int", "huge-float", "nan", "bool", "string", "missing", "not-utf8"],
)
def test_bad_readings_are_value_errors(payload: bytes) -> None:
    with pytest.raises(ValueError):  # the type is the contract; messages vary
        parse_reading(payload)


def test_readings_outside_the_training_range_are_still_answered(
    pipelines: dict[str, AnyPipeline],
) -> None:
    lo, hi = RANGES[NUMERIC[0]]
    out = pipelines["engine-fault"].run(_with(hi + 50 * (hi - lo)))
    assert sum(out.probabilities) == pytest.approx(1.0, abs=1e-3)


def test_pipeline_turns_them_into_bad_json(pipelines: dict[str, AnyPipeline]) -> None:
    with pytest.raises(InputError) as info:
        pipelines["engine-fault"].run(_with(1e308))
    assert info.value.code is ErrorCode.BAD_JSON


def test_the_hubs_engine_model_knows_more_than_the_devices(
    pipelines: dict[str, AnyPipeline],
) -> None:
    """On readings of engines neither model was trained on, the hub's model is right clearly
    more often, and the device's top-class probability says something of when to ask it."""
    import numpy as np

    from edge_agent.cascade import confidence_of
    from models.datasets.engine import held_out

    data = held_out(1000, seed=3)
    x = data.x.astype(np.float32)
    edge = pipelines["engine-fault"].runtime.invoke(x)[0]  # type: ignore[attr-defined]
    cloud = pipelines["engine-fault-cloud"].runtime.invoke(x)[0]  # type: ignore[attr-defined]
    edge_right = edge.argmax(1) == data.y
    cloud_right = cloud.argmax(1) == data.y
    assert cloud_right.mean() >= edge_right.mean() + 0.05
    unsure = edge.max(1) <= 0.6
    assert edge_right[unsure].mean() < edge_right[~unsure].mean()  # low confidence: often wrong
    reading = json.dumps(READING).encode()
    out = pipelines["engine-fault"].run(reading)
    # the cascade reads the doubt head where the model has one (tests/models/test_engine_doubt.py)
    assert out.doubt is not None  # type: ignore[attr-defined]
    assert confidence_of(out) == pytest.approx(1.0 - out.doubt)  # type: ignore[attr-defined]


def test_a_batch_of_readings_answers_each_as_alone(pipelines: dict[str, AnyPipeline]) -> None:
    """The hub runs queued readings through one invoke; a bad one gets its own error."""
    hub = pipelines["engine-fault-cloud"]
    readings = [json.dumps(READING | {NUMERIC[0]: v}).encode() for v in (60.0, 90.0, 120.0)]
    batch = hub.run_batch([readings[0], b"{", readings[1], readings[2]])  # type: ignore[attr-defined]
    assert isinstance(batch[1], InputError)
    assert batch[1].code == ErrorCode.BAD_JSON
    assert [batch[0], batch[2], batch[3]] == [hub.run(r) for r in readings]
