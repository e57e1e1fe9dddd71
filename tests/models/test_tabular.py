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
