"""docs/asyncapi.yaml: valid AsyncAPI 3.0 structure, payloads validate samples, up to date."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from contract import TOPIC_SPECS, encode
from contract.asyncapi import document, generate
from tests.contract.samples import COMMAND_SAMPLES, SAMPLES

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC: dict[str, Any] = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
SAMPLE_BY_NAME = {type(s).__name__: s for s in SAMPLES} | COMMAND_SAMPLES


def _resolve(ref: str) -> Any:
    node: Any = DOC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_committed_document_is_up_to_date() -> None:
    assert (DOCS / "asyncapi.yaml").read_text(encoding="utf-8") == generate(), (
        "run `edgefleet contract asyncapi`"
    )


def test_cli_check_passes_on_the_committed_file() -> None:
    edgefleet = str(Path(sys.executable).with_name("edgefleet"))
    out = DOCS / "asyncapi.yaml"
    result = subprocess.run(
        [edgefleet, "contract", "asyncapi", "--out", str(out), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_required_asyncapi_3_fields() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert DOC["info"]["title"]
    assert DOC["info"]["version"]
    assert DOC["servers"]["local"]["protocol"] == "mqtt"
    for operation_id, operation in DOC["operations"].items():
        assert operation["action"] in ("send", "receive"), operation_id
        channel = _resolve(operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            assert _resolve(message["$ref"]) in channel["messages"].values()
        assert operation["bindings"]["mqtt"]["qos"] in (0, 1, 2)


def test_every_table_row_has_channels_and_an_operation() -> None:
    addresses = {c["address"] for c in DOC["channels"].values()}
    for spec in TOPIC_SPECS:
        pattern = re.sub(r"\{[a-z]+\}", "{}", spec.pattern.removesuffix("[/{rid}]"))
        assert any(re.sub(r"\{[a-z]+\}", "{}", a).endswith(pattern) for a in addresses), spec
    referenced = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in DOC["operations"].values()}
    assert referenced == set(DOC["channels"])


@pytest.mark.parametrize("channel_id", sorted(DOC["channels"]))
def test_channel_parameters_and_payload_validate_a_sample(channel_id: str) -> None:
    channel = DOC["channels"][channel_id]
    assert set(re.findall(r"\{(\w+)\}", channel["address"])) == set(channel.get("parameters", {}))
    assert channel["messages"]
    for message_ref in channel["messages"].values():
        message = _resolve(message_ref["$ref"])
        payload = message["payload"]
        if message["contentType"] != "application/json":
            assert payload == {"type": "string", "format": "binary"}
            continue
        schema_file = DOCS / payload["schema"]["$ref"]
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        sample = json.loads(encode(SAMPLE_BY_NAME[message["name"]]))
        jsonschema.Draft202012Validator(schema).validate(sample)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate({"not": "a " + message["name"]})


def test_document_is_deterministic() -> None:
    assert document() == document()
