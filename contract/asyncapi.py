"""AsyncAPI 3.0 document of contract v1, generated from `TOPIC_SPECS` and the payload models.

The document describes the edgefleet fleet (devices and hub) as one application: it *sends*
what devices and the hub publish and *receives* inference requests. Message payloads
reference the JSON Schemas in docs/schemas/ (`edgefleet contract schemas`), so the two never
disagree. `edgefleet contract asyncapi --check` (and a test) fail when the committed
docs/asyncapi.yaml drifts from the table.
"""

import re
from pathlib import Path
from typing import Any

import yaml

from contract.schemas import file_name
from contract.topics import (
    DEFAULT_PREFIX,
    DEVICE_ID_RE,
    SEGMENT_RE,
    TOPIC_SPECS,
    Role,
    TopicSpec,
)

VERSION = "3.0.0"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
MQTT_BINDING_VERSION = "0.2.0"
_PARAMETERS = {
    "d": ("device", f"Device id, `{DEVICE_ID_RE.pattern}`."),
    "m": ("model", f"Model id from the catalogue, `{SEGMENT_RE.pattern}`."),
    "rid": (
        "rid",
        f"Request id chosen by the requester, echoed in the result, `{SEGMENT_RE.pattern}`.",
    ),
    "kind": ("kind", "Event kind: `face`, `wakeword`, `fault`, ..."),
    "name": ("name", "Command name: `reload`, `update_model`, `fl_train`, ..."),
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


def _channel(spec: TopicSpec, pattern: str) -> dict[str, Any]:
    names = re.findall(r"\{([a-z]+)\}", pattern)
    address = f"{DEFAULT_PREFIX}/" + re.sub(
        r"\{([a-z]+)\}", lambda m: "{" + _PARAMETERS[m.group(1)][0] + "}", pattern
    )
    message_id = _message_id(spec)
    return {
        "address": address,
        "description": spec.description,
        "parameters": {_PARAMETERS[n][0]: {"description": _PARAMETERS[n][1]} for n in names},
        "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
    }


def _operation(spec: TopicSpec, channel_id: str) -> dict[str, Any]:
    action = "receive" if spec.publisher is Role.ANYONE else "send"
    who = {Role.DEVICE: "the device", Role.HUB: "the hub", Role.ANYONE: "anyone"}
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "summary": f"Published by {who[spec.publisher]}, read by {who[spec.subscriber]}.",
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{_message_id(spec)}"}],
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
            messages[spec.payload.__name__] = {
                "name": spec.payload.__name__,
                "contentType": "application/json",
                "summary": (
                    (spec.payload.__doc__ or "").strip().splitlines() or [spec.description]
                )[0],
                "payload": {
                    "schemaFormat": SCHEMA_FORMAT,
                    "schema": {"$ref": f"{schema_dir}/{file_name(spec.payload)}"},
                },
            }
    return messages


def document(schema_dir: str = "schemas") -> dict[str, Any]:
    """The AsyncAPI document; `schema_dir` is where the JSON Schemas are, relative to it."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in TOPIC_SPECS:
        for channel_id, pattern in _variants(spec):
            channels[channel_id] = _channel(spec, pattern)
            action = "receive" if spec.publisher is Role.ANYONE else "send"
            operations[f"{action}{channel_id[0].upper()}{channel_id[1:]}"] = _operation(
                spec, channel_id
            )
    return {
        "asyncapi": VERSION,
        "info": {
            "title": "edgefleet MQTT contract",
            "version": "1.0.0",
            "description": (
                "Topics and payloads of contract v1 (prefix `edgefleet/v1`, configurable). "
                "All JSON payloads are UTF-8 objects with an RFC 3339 UTC `ts`. Generated "
                "from contract/topics.py by `edgefleet contract asyncapi`; see "
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
