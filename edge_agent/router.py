"""Which model an incoming message is for: contract infer topics and configured sensor topics."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from paho.mqtt.client import topic_matches_sub

from contract import ContractError, ErrorCode, Kind, Topics
from edge_agent.config import SensorConfig
from edge_agent.errors import Rejected


@dataclass(frozen=True, slots=True)
class InferRoute:
    """Run `model` on the payload; answer on `result/{model}[/{rid}]`."""

    model: str
    rid: str | None
    source_topic: str


@dataclass(frozen=True, slots=True)
class CommandRoute:
    """A hub command `cmd/{name}` for this device."""

    name: str


Route = InferRoute | CommandRoute | None  # None: a message to ignore silently


class Router:
    """Maps topics to routes; raises Rejected(code) for inputs that must get an `error`."""

    def __init__(
        self,
        topics: Topics,
        device: str,
        models: Collection[str],
        sensors: Sequence[SensorConfig] = (),
        max_payload_bytes: int = 1 << 20,
    ) -> None:
        self._topics = topics
        self._own = f"{topics.prefix}/{device}/"
        self._models = frozenset(models)
        self._sensors = tuple((s.topic, s.model) for s in sensors)
        self._max = max_payload_bytes

    def route(self, topic: str, size: int) -> Route:
        if topic.startswith(self._own):
            return self._own_topic(topic, size)
        for sub, model in self._sensors:
            if topic_matches_sub(sub, topic):
                return self._checked(InferRoute(model, None, topic), size)
        return None

    def _own_topic(self, topic: str, size: int) -> Route:
        try:
            parsed = self._topics.parse(topic)
        except ContractError as exc:
            if topic.startswith((f"{self._own}infer/", f"{self._own}cmd/")):
                raise Rejected(ErrorCode.BAD_TOPIC, str(exc)) from None
            return None  # our own outputs echoed back by a broad sensor filter: never answer
        if parsed.kind is Kind.CMD and parsed.name is not None:
            return CommandRoute(parsed.name)
        if parsed.kind is not Kind.INFER or parsed.model is None:
            return None
        return self._checked(InferRoute(parsed.model, parsed.rid, topic), size)

    def _checked(self, route: InferRoute, size: int) -> InferRoute:
        if size > self._max:
            raise Rejected(
                ErrorCode.TOO_LARGE,
                f"payload of {size} bytes exceeds the limit of {self._max}",
                route.rid,
            )
        if route.model not in self._models:
            known = ", ".join(sorted(self._models))
            raise Rejected(
                ErrorCode.UNKNOWN_MODEL,
                f"model {route.model!r} is not loaded here ({known})",
                route.rid,
            )
        return route
