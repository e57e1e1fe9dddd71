"""JSON Schemas of the v1 payloads, one file per model plus `index.json`, from the topic table;
and per command (contract/command.py) its command and reply with the args and result typed.

The committed copies live in docs/schemas/; `edgefleet contract schemas --check` (and a test)
fail when they drift from the models.
"""

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract.command import COMMAND_SPECS, Command, CommandReply, CommandSpec
from contract.event import IntentEventData
from contract.ids import ID_PATTERN
from contract.outputs import FaceDetectionOutput, IntentOutput, TabularOutput, WakeWordOutput
from contract.topics import DEFAULT_PREFIX, SEGMENT_RE, TOPIC_SPECS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
OUTPUT_MODELS: tuple[type[BaseModel], ...] = (
    FaceDetectionOutput,
    WakeWordOutput,
    TabularOutput,
    IntentOutput,
)

EVENT_DATA_MODELS: dict[str, type[BaseModel]] = {"intent": IntentEventData}
"""Event kind -> the model of its `data`, for the kinds whose data is typed."""


def payload_models() -> tuple[type[BaseModel], ...]:
    """The payload model of every JSON topic, in table order, each once."""
    models = [spec.payload for spec in TOPIC_SPECS if spec.payload is not None]
    return tuple(dict.fromkeys(models))


def file_name(model: type[BaseModel]) -> str:
    """`InferResult` -> `infer-result.json`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", model.__name__).lower() + ".json"


def schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """The schema of what a receiver accepts, with `ts` required of every sender
    (docs/integrate-mqtt.md)."""
    schema = model.model_json_schema(mode="validation")
    if "ts" in schema.get("properties", {}):
        schema["required"] = ["ts", *[f for f in schema.get("required", []) if f != "ts"]]
    return {"$schema": DIALECT, "$id": f"urn:edgefleet:v1:{file_name(model)}", **schema}


def command_files(spec: CommandSpec) -> tuple[str, str]:
    """`fl-train` -> (`fl-train-command.json`, `fl-train-reply.json`)."""
    return f"{spec.name}-command.json", f"{spec.name}-reply.json"


def command_messages(spec: CommandSpec) -> tuple[str, str]:
    """`fl-train` -> (`FlTrainCommand`, `FlTrainReply`): the titles of its two schemas."""
    stem = "".join(part.title() for part in spec.name.split("-"))
    return f"{stem}Command", f"{stem}Reply"


def command_schemas() -> dict[str, dict[str, Any]]:
    """Per command, file name -> schema: `Command` with `args` of its args model, and
    `CommandReply` with `result` of its result model when `ok`."""
    documents: dict[str, dict[str, Any]] = {}
    for spec in COMMAND_SPECS:
        (command, reply), (command_title, reply_title) = command_files(spec), command_messages(spec)
        documents[command] = _command_schema(spec, command, command_title)
        documents[reply] = _reply_schema(spec, reply, reply_title)
    return documents


def _command_schema(spec: CommandSpec, name: str, title: str) -> dict[str, Any]:
    schema, args = _embed(Command, name, title, spec.args)
    schema["properties"]["args"] = args
    if any(field.is_required() for field in spec.args.model_fields.values()):
        schema["required"] = [*schema["required"], "args"]
    return schema


def _reply_schema(spec: CommandSpec, name: str, title: str) -> dict[str, Any]:
    schema, result = _embed(CommandReply, name, title, spec.result)
    schema["if"] = {"properties": {"ok": {"const": True}}, "required": ["ok"]}
    schema["then"] = {"properties": {"result": result}, "required": ["result"]}
    return schema


def _embed(
    envelope: type[BaseModel], name: str, title: str, model: type[BaseModel]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`envelope`'s schema under `name` and `title` with `model`'s among its `$defs`, and a
    reference to that."""
    schema = schema_for(envelope) | {"$id": f"urn:edgefleet:v1:{name}", "title": title}
    inner = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    schema["$defs"] = {**schema.get("$defs", {}), **inner.pop("$defs", {}), model.__name__: inner}
    return schema, {"$ref": f"#/$defs/{model.__name__}"}


def index() -> dict[str, Any]:
    """Which schema belongs to which topic, with QoS, retain and roles; and to which command."""
    topics = [
        {
            "kind": str(spec.kind),
            "topic": f"{DEFAULT_PREFIX}/{spec.pattern}",
            "qos": spec.qos,
            "retain": spec.retain,
            "publisher": str(spec.publisher),
            "subscriber": str(spec.subscriber),
            "payload": file_name(spec.payload) if spec.payload else None,
            "description": spec.description,
        }
        for spec in TOPIC_SPECS
    ]
    outputs = {m.__name__: file_name(m) for m in OUTPUT_MODELS}
    event_data = {kind: file_name(m) for kind, m in EVENT_DATA_MODELS.items()}
    commands = [
        {"name": str(spec.name), "command": files[0], "reply": files[1],
         "description": spec.description}
        for spec, files in ((spec, command_files(spec)) for spec in COMMAND_SPECS)
    ]  # fmt: skip
    return {
        "contract": "edgefleet/v1",
        "device_id_pattern": ID_PATTERN,
        "segment_pattern": SEGMENT_RE.pattern,  # model ids, request ids, event kinds, commands
        "topics": topics,
        "outputs": outputs,
        "event_data": event_data,
        "commands": commands,
    }


def generate() -> dict[str, str]:
    """File name -> file text of every schema and the index."""
    models = (*payload_models(), *OUTPUT_MODELS, *EVENT_DATA_MODELS.values())
    documents = {file_name(m): schema_for(m) for m in models}
    documents |= command_schemas()
    documents["index.json"] = index()
    return {
        name: json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        for name, doc in documents.items()
    }


def write(out: Path) -> list[Path]:
    """Write every schema into `out`; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def differences(out: Path) -> list[str]:
    """Human-readable list of files in `out` that are missing, stale or unexpected."""
    expected = generate()
    problems = [
        f"{name}: {'missing' if not (out / name).exists() else 'differs from the models'}"
        for name, text in expected.items()
        if not (out / name).exists() or (out / name).read_text(encoding="utf-8") != text
    ]
    problems += [
        f"{path.name}: not generated from any model (remove it)"
        for path in sorted(out.glob("*.json"))
        if path.name not in expected
    ]
    return problems
