"""AsyncAPI 3.0 document of contract v1, generated from `TOPIC_SPECS` and the payload models.

The document describes the edgefleet fleet (devices and hub) as one application: it *sends*
what devices and the hub publish and *receives* inference requests. Message payloads
reference the JSON Schemas in docs/schemas/ (`edgefleet contract schemas`), so the two never
disagree. Each command of `COMMAND_SPECS` also has its own two channels (`cmd/fl-train`,
`cmd/fl-train/reply`) with its args and result typed; `cmd/{name}` stays for any other name.
`edgefleet contract asyncapi --check` (and a test) fail when the committed docs/asyncapi.yaml
drifts from the tables.
"""

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from contract.command import COMMAND_SPECS, CommandName
from contract.ids import ID_PATTERN
from contract.schemas import command_files, command_messages, file_name
from contract.topics import (
    DEFAULT_PREFIX,
    SEGMENT_RE,
    SPEC_BY_KIND,
    TOPIC_SPECS,
    Kind,
    Role,
    TopicSpec,
)

VERSION = "3.0.0"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
MQTT_BINDING_VERSION = "0.2.0"
_PARAMETERS = {
    "d": ("device", f"Device id, `{ID_PATTERN}`."),
    "m": ("model", f"Model id from the catalogue, `{SEGMENT_RE.pattern}`."),
    "rid": (
        "rid",
        f"Request id chosen by the requester, echoed in the result, `{SEGMENT_RE.pattern}`.",
    ),
    "kind": ("kind", "Event kind: `face`, `wakeword`, `fault`, `intent`"),
    "name": (
        "name",
        "Command name: " + ", ".join(f"`{n}`" for n in CommandName) + " (each has channels "
        "of its own); a device answers any other with `unknown_command`.",
    ),
}
_RAW_CONTENT = "application/octet-stream"


def _camel(text: str) -> str:
    head, *rest = text.split("_")
    return head + "".join(part.title() for part in rest)


def _variants(spec: TopicSpec) -> list[tuple[str, str]]:
    """(channel id, pattern) of a row; an optional `[/{rid}]` gives two channels."""
    if spec.pattern.endswith("[/{rid}]"):
        base = spec.pattern.removesuffix("[/{rid}]")
        return [(_camel(spec.kind), base), (_camel(spec.kind) + "WithRid", base + "/{rid}")]
    return [(_camel(spec.kind), spec.pattern)]


def _message_id(spec: TopicSpec) -> str:
    return spec.payload.__name__ if spec.payload else "RawInput"


def _command_channels() -> list[tuple[str, TopicSpec, str, str]]:
    """(channel id, row, message id, schema file) of each command and of its reply: the `cmd`
    and `cmd_reply` rows with the name filled in."""
    rows: list[tuple[str, TopicSpec, str, str]] = []
    for command in COMMAND_SPECS:
        channel_id = "cmd" + "".join(part.title() for part in command.name.split("-"))
        specs = (
            _named(Kind.CMD, command.name, command.description),
            _named(Kind.CMD_REPLY, command.name, f"Reply to `{command.name}`, same cmd_id."),
        )
        ids = (channel_id, f"{channel_id}Reply")
        rows += zip(ids, specs, command_messages(command), command_files(command), strict=True)
    return rows


def _named(kind: Kind, name: str, description: str) -> TopicSpec:
    spec = SPEC_BY_KIND[kind]
    return replace(spec, pattern=spec.pattern.replace("{name}", name), description=description)


def _channel(spec: TopicSpec, pattern: str, message_id: str) -> dict[str, Any]:
    names = re.findall(r"\{([a-z]+)\}", pattern)
    address = f"{DEFAULT_PREFIX}/" + re.sub(
        r"\{([a-z]+)\}", lambda m: "{" + _PARAMETERS[m.group(1)][0] + "}", pattern
    )
    return {
        "address": address,
        "description": spec.description,
        "parameters": {_PARAMETERS[n][0]: {"description": _PARAMETERS[n][1]} for n in names},
        "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
    }


def _operation(spec: TopicSpec, channel_id: str, message_id: str) -> dict[str, Any]:
    action = "receive" if spec.publisher is Role.ANYONE else "send"
    who = {
        Role.DEVICE: "the device",
        Role.HUB: "the hub",
        Role.ANYONE: "anyone",
        Role.PEER: "a gateway of the device's site",
    }
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "summary": f"Published by {who[spec.publisher]}, read by {who[spec.subscriber]}.",
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
        "bindings": {
            "mqtt": {
                "qos": spec.qos,
                "retain": spec.retain,
                "bindingVersion": MQTT_BINDING_VERSION,
            }
        },
    }


def _messages(schema_dir: str) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for spec in TOPIC_SPECS:
        if spec.payload is None:
            messages["RawInput"] = {
                "name": "RawInput",
                "contentType": _RAW_CONTENT,
                "summary": "JPEG/PNG image, WAV or s16le 16 kHz mono audio, or tabular JSON.",
                "payload": {"type": "string", "format": "binary"},
            }
        else:
            summary = ((spec.payload.__doc__ or "").strip().splitlines() or [spec.description])[0]
            name = spec.payload.__name__
            messages[name] = _json_message(name, summary, f"{schema_dir}/{file_name(spec.payload)}")
    for _, spec, name, schema in _command_channels():
        messages[name] = _json_message(name, spec.description, f"{schema_dir}/{schema}")
    return messages


def _json_message(name: str, summary: str, schema_ref: str) -> dict[str, Any]:
    return {
        "name": name,
        "contentType": "application/json",
        "summary": summary,
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": schema_ref}},
    }


def document(schema_dir: str = "schemas") -> dict[str, Any]:
    """The AsyncAPI document; `schema_dir` is where the JSON Schemas are, relative to it."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    rows = [
        (channel_id, spec, pattern, _message_id(spec))
        for spec in TOPIC_SPECS
        for channel_id, pattern in _variants(spec)
    ]
    commands = _command_channels()
    rows += [(channel_id, spec, spec.pattern, message) for channel_id, spec, message, _ in commands]
    for channel_id, spec, pattern, message_id in rows:
        channels[channel_id] = _channel(spec, pattern, message_id)
        action = "receive" if spec.publisher is Role.ANYONE else "send"
        operations[f"{action}{channel_id[0].upper()}{channel_id[1:]}"] = _operation(
            spec, channel_id, message_id
        )
    return {
        "asyncapi": VERSION,
        "info": {
            "title": "edgefleet MQTT contract",
            "version": "1.0.0",
            "description": (
                "Topics and payloads of contract v1 (prefix `edgefleet/v1`, configurable). "
                "All JSON payloads are UTF-8 objects with an RFC 3339 UTC `ts`. Generated "
                "from contract/topics.py and contract/command.py by `edgefleet contract "
                "asyncapi`; see "
                "docs/integrate-mqtt.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:1883",
                "protocol": "mqtt",
                "protocolVersion": "3.1.1",
                "description": "The embedded broker (`edgefleet broker`, `edgefleet demo`).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": _messages(schema_dir)},
    }


def generate() -> str:
    header = "# Generated by `edgefleet contract asyncapi`; do not edit by hand.\n"
    return header + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


def is_up_to_date(path: Path) -> bool:
    return path.exists() and path.read_text(encoding="utf-8") == generate()
