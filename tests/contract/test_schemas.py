"""The committed JSON Schemas (docs/schemas/) match the models and accept real messages."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from contract import TOPIC_SPECS, encode, schemas
from contract.cli import app
from tests.contract.samples import SAMPLES

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "schemas"
GENERATED = schemas.generate()


def test_committed_schemas_equal_generated() -> None:
    assert schemas.differences(COMMITTED) == [], "run: edgefleet contract schemas"


def test_every_payload_and_output_model_has_a_schema() -> None:
    models = {s.payload for s in TOPIC_SPECS if s.payload} | set(schemas.OUTPUT_MODELS)
    models |= set(schemas.EVENT_DATA_MODELS.values())
    commands = set(schemas.command_schemas())
    assert {schemas.file_name(m) for m in models} | {"index.json"} | commands == set(GENERATED)
    assert {type(m) for m in SAMPLES} == models


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_schema_accepts_a_sample_message(message: BaseModel) -> None:
    schema = _schema(message)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(json.loads(encode(message)))


@pytest.mark.parametrize(
    "message", [m for m in SAMPLES if "ts" in type(m).model_fields], ids=lambda m: type(m).__name__
)
def test_schema_requires_ts(message: BaseModel) -> None:
    document = json.loads(encode(message))
    del document["ts"]
    with pytest.raises(jsonschema.ValidationError, match="'ts' is a required property"):
        jsonschema.validate(document, _schema(message))


def test_index_names_every_topic_with_its_schema() -> None:
    index = json.loads(GENERATED["index.json"])
    assert [t["kind"] for t in index["topics"]] == [str(s.kind) for s in TOPIC_SPECS]
    for topic in index["topics"]:
        assert topic["payload"] is None or topic["payload"] in GENERATED


def test_cli_check_fails_on_stale_files_and_write_fixes_them(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "stray.json").write_text("{}")

    stale = runner.invoke(app, ["schemas", "--out", str(tmp_path), "--check"])
    assert stale.exit_code == 1
    assert "status.json: missing" in stale.output
    assert "stray.json: not generated" in stale.output

    (tmp_path / "stray.json").unlink()
    assert runner.invoke(app, ["schemas", "--out", str(tmp_path)]).exit_code == 0
    fresh = runner.invoke(app, ["schemas", "--out", str(tmp_path), "--check"])
    assert fresh.exit_code == 0, fresh.output


def _schema(message: BaseModel) -> dict[str, Any]:
    return dict(json.loads(GENERATED[schemas.file_name(type(message))]))
