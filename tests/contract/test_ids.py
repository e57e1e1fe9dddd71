"""contract/ids.py: one id rule for devices and models, everywhere it is checked."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError

from contract import ContractError, Topics
from contract.ids import ID_PATTERN, DeviceId, ModelId, full_model, is_id
from edge_agent.config import AgentConfig
from models.catalogue import ModelSpec

VALID = ["0", "cam-1", "mic_2", "face-detect-lite", "a" * 64]
INVALID = ["", "Cam", "-cam", "_cam", "cam/1", "cam.1", "cam 1", "é", "a" * 65, "+", "#"]


@pytest.mark.parametrize("value", VALID)
def test_valid_ids(value: str) -> None:
    assert is_id(value)
    assert TypeAdapter(DeviceId).validate_python(value) == value
    assert TypeAdapter(ModelId).validate_python(value) == value


@pytest.mark.parametrize("value", INVALID)
def test_invalid_ids_are_refused_naming_the_rule(value: str) -> None:
    assert not is_id(value)
    with pytest.raises(ValidationError, match="should match pattern") as info:
        TypeAdapter(DeviceId).validate_python(value)
    assert info.value.errors()[0]["ctx"]["pattern"] == ID_PATTERN


@pytest.mark.parametrize("value", INVALID[:-2])  # "+" and "#" are not ids in filters either
def test_every_checker_applies_the_same_rule(value: str) -> None:
    with pytest.raises(ContractError, match="invalid device id"):
        Topics().status(value)
    with pytest.raises(ValidationError) as agent:
        AgentConfig(device_id=value, models=["m"])
    assert [e["type"] for e in agent.value.errors() if e["loc"] == ("device_id",)] == [
        "string_pattern_mismatch"
    ]
    with pytest.raises(ValidationError) as catalogue:
        ModelSpec.model_validate(_catalogue_entry(value))
    assert [e["type"] for e in catalogue.value.errors() if e["loc"] == ("id",)] == [
        "string_pattern_mismatch"
    ]


def _catalogue_entry(model_id: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "task": "tabular",
        "pipeline": "tabular",
        "version": "1",
        "runtime": "onnx",
        "licence": "MIT",
        "files": [],
    }


def test_the_id_schema_carries_the_pattern() -> None:
    class Body(BaseModel):
        device: DeviceId

    assert Body.model_json_schema()["properties"]["device"]["pattern"] == ID_PATTERN


async def test_a_fastapi_path_parameter_refuses_a_bad_id_with_422() -> None:
    app = FastAPI()

    @app.get("/devices/{device_id}")
    async def one(device_id: DeviceId) -> dict[str, str]:
        return {"id": device_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        good = await client.get("/devices/cam-1")
        bad = await client.get("/devices/Cam-1")
    assert good.json() == {"id": "cam-1"}
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "device_id"]
    assert ID_PATTERN in bad.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("model", "full"),
    [
        ("face-detect-lite", "face-detect-full"),
        ("wakeword-lite", "wakeword-full"),
        ("engine-fault", "engine-fault"),  # no light variant: the model is its own full model
        ("lite", "lite"),
        ("x-lite-lite", "x-lite-full"),  # only the suffix
        ("face-detect-full", "face-detect-full"),
    ],
)
def test_full_model_of_a_light_one(model: str, full: str) -> None:
    assert full_model(model) == full
