"""The topic table of contract v1: every topic's pattern, payload, QoS, retain and roles.

Agent subscriptions, hub bridge subscriptions, broker ACLs and the AsyncAPI document are all
derived from `TOPIC_SPECS`; no other module spells a topic by hand.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from contract.ack import Ack
from contract.command import Command, CommandReply
from contract.errors import ContractError
from contract.event import Event
from contract.health import Health
from contract.ids import ID_RE
from contract.inference import ErrorMessage, InferResult
from contract.status import Status
from contract.twin import TwinDesired, TwinReported

DEFAULT_PREFIX = "edgefleet/v1"
SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class Kind(StrEnum):
    STATUS = "status"
    HEALTH = "health"
    INFER = "infer"
    RESULT = "result"
    EVENT = "event"
    ERROR = "error"
    CMD = "cmd"
    CMD_REPLY = "cmd_reply"
    TWIN_DESIRED = "twin_desired"
    TWIN_REPORTED = "twin_reported"
    ACK = "ack"
    SNAPSHOT = "snapshot"
    REPLY = "reply"


class Role(StrEnum):
    DEVICE = "device"  # the device named by {d}
    HUB = "hub"
    ANYONE = "anyone"  # integrators, other devices with rights, the hub
    PEER = "peer"  # a gateway of the device's site (an agent with `serve_peers: true`)


@dataclass(frozen=True)
class TopicSpec:
    """One row of the contract table."""

    kind: Kind
    pattern: str  # below the prefix; {d} device, {m} model, {rid} request, {kind}/{name} names
    payload: type[BaseModel] | None  # None: raw bytes (images, audio, tabular JSON)
    qos: int
    retain: bool
    publisher: Role
    subscriber: Role
    description: str

    @property
    def public(self) -> bool:
        """Public integration topics: anonymous local clients may use them in demo mode."""
        return self.kind in _PUBLIC

    def filter(self, prefix: str, device: str = "+") -> str:
        """MQTT filter for this topic of one device (or all with `+`)."""
        pattern = self.pattern.replace("{d}", device)
        if pattern.endswith("[/{rid}]"):  # optional trailing request id: match both forms
            pattern = pattern.removesuffix("[/{rid}]").rsplit("/", 1)[0] + "/#"
        return f"{prefix}/" + re.sub(r"\{[a-z]+\}", "+", pattern)


_PUBLIC = {Kind.STATUS, Kind.INFER, Kind.RESULT, Kind.EVENT, Kind.ERROR, Kind.SNAPSHOT}

# One row per topic, laid out like the table in docs/integrate-mqtt.md.
# fmt: off
TOPIC_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(Kind.STATUS, "{d}/status", Status, 1, True, Role.DEVICE, Role.ANYONE,
              "Birth on connect and Last Will `offline`; retained."),
    TopicSpec(Kind.HEALTH, "{d}/health", Health, 0, False, Role.DEVICE, Role.HUB,
              "Heartbeat every `health_interval_s` seconds."),
    TopicSpec(Kind.INFER, "{d}/infer/{m}[/{rid}]", None, 1, False, Role.ANYONE, Role.DEVICE,
              "Raw input for model {m}: JPEG/PNG, WAV or s16le 16 kHz mono, or JSON."),
    TopicSpec(Kind.RESULT, "{d}/result/{m}[/{rid}]", InferResult, 1, False, Role.DEVICE,
              Role.ANYONE, "Inference result; rid echoed from the request topic."),
    TopicSpec(Kind.EVENT, "{d}/event/{kind}", Event, 1, False, Role.DEVICE, Role.ANYONE,
              "Detections worth automating on: face, wakeword, fault; intent (a spoken command)."),
    TopicSpec(Kind.ERROR, "{d}/error", ErrorMessage, 1, False, Role.DEVICE, Role.ANYONE,
              "One message per rejected input."),
    TopicSpec(Kind.CMD, "{d}/cmd/{name}", Command, 1, False, Role.HUB, Role.DEVICE,
              "Command from the hub, with a cmd_id."),
    TopicSpec(Kind.CMD_REPLY, "{d}/cmd/{name}/reply", CommandReply, 1, False, Role.DEVICE,
              Role.HUB, "Reply to a command, same cmd_id."),
    TopicSpec(Kind.TWIN_DESIRED, "{d}/twin/desired", TwinDesired, 1, True, Role.HUB,
              Role.DEVICE, "Configuration the hub wants; retained."),
    TopicSpec(Kind.TWIN_REPORTED, "{d}/twin/reported", TwinReported, 1, True, Role.DEVICE,
              Role.HUB, "Configuration the device runs; retained."),
    TopicSpec(Kind.ACK, "{d}/ack", Ack, 0, False, Role.HUB, Role.DEVICE,
              "Hub ingestion ack: msg_ids stored, so the device may drop them from its outbox. "
              "QoS 0: the device's resend asks again for a lost one."),
    TopicSpec(Kind.SNAPSHOT, "{d}/snapshot/{name}", None, 0, True, Role.DEVICE, Role.ANYONE,
              "JPEG of camera {name}'s last detection, boxes drawn; retained."),
    TopicSpec(Kind.REPLY, "{d}/reply/{rid}", InferResult, 1, False, Role.PEER, Role.DEVICE,
              "A site gateway's answer to a request device {d} offloaded to it (the MQTT 5 "
              "response topic of that request; an ErrorMessage when the gateway refused it)."),
)
# fmt: on

SPEC_BY_KIND: dict[Kind, TopicSpec] = {s.kind: s for s in TOPIC_SPECS}


def validate_device_id(device: str) -> str:
    if not ID_RE.fullmatch(device):
        raise ContractError(f"invalid device id {device!r}: must match {ID_RE.pattern}")
    return device


def _segment(value: str, what: str) -> str:
    if not SEGMENT_RE.fullmatch(value):
        raise ContractError(f"invalid {what} {value!r}: must match {SEGMENT_RE.pattern}")
    return value


@dataclass(frozen=True)
class ParsedTopic:
    kind: Kind
    device: str
    model: str | None = None
    rid: str | None = None
    name: str | None = None  # event kind, command name or camera name


class Topics:
    """Builds and parses the topics of one prefix; the only place topics are spelled."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix.rstrip("/")
        self._depth = len(self.prefix.split("/"))

    def _t(self, device: str, *parts: str) -> str:
        return "/".join((self.prefix, validate_device_id(device), *parts))

    def status(self, device: str) -> str:
        return self._t(device, "status")

    def health(self, device: str) -> str:
        return self._t(device, "health")

    def infer(self, device: str, model: str, rid: str | None = None) -> str:
        parts = ["infer", _segment(model, "model id")]
        return self._t(device, *parts, *([_segment(rid, "request id")] if rid else []))

    def result(self, device: str, model: str, rid: str | None = None) -> str:
        parts = ["result", _segment(model, "model id")]
        return self._t(device, *parts, *([_segment(rid, "request id")] if rid else []))

    def event(self, device: str, kind: str) -> str:
        return self._t(device, "event", _segment(kind, "event kind"))

    def error(self, device: str) -> str:
        return self._t(device, "error")

    def cmd(self, device: str, name: str) -> str:
        return self._t(device, "cmd", _segment(name, "command name"))

    def cmd_reply(self, device: str, name: str) -> str:
        return self._t(device, "cmd", _segment(name, "command name"), "reply")

    def twin_desired(self, device: str) -> str:
        return self._t(device, "twin", "desired")

    def twin_reported(self, device: str) -> str:
        return self._t(device, "twin", "reported")

    def ack(self, device: str) -> str:
        return self._t(device, "ack")

    def snapshot(self, device: str, camera: str) -> str:
        return self._t(device, "snapshot", _segment(camera, "camera name"))

    def reply(self, device: str, rid: str) -> str:
        return self._t(device, "reply", _segment(rid, "request id"))

    def filter(self, kind: Kind, device: str = "+") -> str:
        """Subscription filter for one kind, for one device or (`+`) all devices."""
        if device != "+":
            validate_device_id(device)
        return SPEC_BY_KIND[kind].filter(self.prefix, device)

    def all(self, device: str = "+") -> str:
        if device != "+":
            validate_device_id(device)
        return f"{self.prefix}/{device}/#"

    def parse(self, topic: str) -> ParsedTopic:
        """Parse a concrete topic of this prefix; raise ContractError if it is not one."""
        levels = topic.split("/")
        if "/".join(levels[: self._depth]) != self.prefix or len(levels) < self._depth + 2:
            raise ContractError(f"topic {topic!r} is not under {self.prefix!r}")
        device, rest = levels[self._depth], levels[self._depth + 1 :]
        validate_device_id(device)
        match rest:
            case ["status"]:
                return ParsedTopic(Kind.STATUS, device)
            case ["health"]:
                return ParsedTopic(Kind.HEALTH, device)
            case ["error"]:
                return ParsedTopic(Kind.ERROR, device)
            case ["infer" | "result" as k, model, *tail] if len(tail) <= 1:
                rid = _segment(tail[0], "request id") if tail else None
                kind = Kind.INFER if k == "infer" else Kind.RESULT
                return ParsedTopic(kind, device, model=_segment(model, "model id"), rid=rid)
            case ["event", name]:
                return ParsedTopic(Kind.EVENT, device, name=_segment(name, "event kind"))
            case ["cmd", name]:
                return ParsedTopic(Kind.CMD, device, name=_segment(name, "command name"))
            case ["cmd", name, "reply"]:
                return ParsedTopic(Kind.CMD_REPLY, device, name=_segment(name, "command name"))
            case ["twin", "desired"]:
                return ParsedTopic(Kind.TWIN_DESIRED, device)
            case ["twin", "reported"]:
                return ParsedTopic(Kind.TWIN_REPORTED, device)
            case ["ack"]:
                return ParsedTopic(Kind.ACK, device)
            case ["reply", rid]:
                return ParsedTopic(Kind.REPLY, device, rid=_segment(rid, "request id"))
            case ["snapshot", name]:
                return ParsedTopic(Kind.SNAPSHOT, device, name=_segment(name, "camera name"))
        raise ContractError(f"topic {topic!r} is not a v1 topic")
