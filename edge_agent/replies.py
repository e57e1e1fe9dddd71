"""What the agent publishes, built from contract models and `Topics` only."""

import uuid
from typing import Any

from pydantic import BaseModel

from contract import ContractError, ErrorMessage, Event, InferResult, Kind, Status, Topics, encode
from contract.status import Presence
from contract.topics import SPEC_BY_KIND
from edge_agent.cascade import confidence_of
from edge_agent.errors import Rejected
from edge_agent.messages import Outbound
from edge_agent.runner import Job, PipelineLike


def _qos(kind: Kind) -> tuple[int, bool]:
    spec = SPEC_BY_KIND[kind]
    return spec.qos, spec.retain


def events_for(output: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Detections worth an `event/{kind}`: faces found, a wake word detected."""
    events: list[tuple[str, dict[str, Any]]] = []
    faces = output.get("faces")
    if isinstance(faces, list) and faces:
        best = max(faces, key=lambda f: float(f.get("score", 0.0)))
        events.append(("face", {"count": len(faces), "best": best}))
    if output.get("detected") is True:
        data = {k: output.get(k) for k in ("wake_word", "probability")}
        events.append(("wakeword", data))
    label = output.get("label")
    if isinstance(label, int) and label > 0 and "probabilities" in output:  # engine fault
        probs = output["probabilities"]
        events.append(
            (
                "fault",
                {
                    "severity": label,
                    "label_name": output.get("label_name"),
                    "probability": probs[label] if label < len(probs) else None,
                },
            )
        )
    return events


class Replies:
    """Builds the Outbound messages of one device."""

    def __init__(self, topics: Topics, device: str, agent_version: str) -> None:
        self._topics = topics
        self._device = device
        self._version = agent_version

    def status(self, state: Presence, models: list[str]) -> Outbound:
        qos, retain = _qos(Kind.STATUS)
        msg = Status(state=state, agent_version=self._version, models=models)
        return Outbound(self._topics.status(self._device), encode(msg), qos, retain, label=state)

    def error(self, topic: str, rejected: Rejected) -> Outbound:
        qos, retain = _qos(Kind.ERROR)
        msg = ErrorMessage(topic=topic, code=rejected.code, error=str(rejected), rid=rejected.rid)
        return Outbound(self._topics.error(self._device), encode(msg), qos, retain, label="error")

    def health(self, payload: bytes, msg_id: str | None = None) -> Outbound:
        qos, retain = _qos(Kind.HEALTH)
        topic = self._topics.health(self._device)
        return Outbound(topic, payload, qos, retain, label="health", msg_id=msg_id)

    def result(
        self, job: Job, pipeline: PipelineLike, output: BaseModel, latency_ms: float
    ) -> list[Outbound]:
        """The result, its events and (MQTT 5) a copy to the request's response topic.

        Runs in the worker thread, so the event loop only has to hand bytes to the socket.
        """
        data = output.model_dump(mode="json")
        result = InferResult(
            model=job.model,
            model_version=pipeline.version,
            where="edge",
            latency_ms=round(latency_ms, 3),
            output=data,
            rid=job.rid,
            msg_id=uuid.uuid4().hex,
            source_topic=job.source_topic,
            edge_confidence=confidence_of(data),
        )
        return self.messages(job, result)

    def for_peer(self, response_topic: str | None) -> bool:
        """Whether a request came from a device of the site (its response topic is that
        device's `reply/{rid}`): answered there only (the asking device publishes the result
        as its own), and never offloaded again."""
        if not response_topic or "/reply/" not in response_topic:
            return False
        try:
            return self._topics.parse(response_topic).kind is Kind.REPLY
        except ContractError:
            return False

    def error_reply(self, job: Job, rejected: Rejected) -> Outbound | None:
        """The error, copied to the request's response topic (MQTT 5 requesters, peers)."""
        if not job.response_topic:
            return None
        qos, _ = _qos(Kind.ERROR)
        msg = ErrorMessage(
            topic=job.source_topic, code=rejected.code, error=str(rejected), rid=job.rid
        )
        return Outbound(job.response_topic, encode(msg), qos, False, job.correlation, "response")

    def messages(self, job: Job, result: InferResult) -> list[Outbound]:
        """`result` (edge or cloud) as the result message, its response copy and events."""
        payload = encode(result)
        msg_id = result.msg_id
        qos, retain = _qos(Kind.RESULT)
        if job.peer_request and job.response_topic:
            return [Outbound(job.response_topic, payload, qos, False, job.correlation, "peer")]
        topic = self._topics.result(self._device, job.model, job.rid)
        out = [Outbound(topic, payload, qos, retain, label="result", msg_id=msg_id)]
        if job.response_topic:
            out.append(
                Outbound(job.response_topic, payload, qos, False, job.correlation, label="response")
            )
        for kind, extra in events_for(result.output):
            event = Event(
                kind=kind,
                model=job.model,
                rid=job.rid,
                msg_id=uuid.uuid4().hex,
                data={**extra, "result_msg_id": msg_id, "source_topic": job.source_topic},
            )
            out.append(self.event(event))
        return out

    def event(self, event: Event) -> Outbound:
        """`event` on `{d}/event/{kind}`."""
        qos, retain = _qos(Kind.EVENT)
        topic = self._topics.event(self._device, event.kind)
        return Outbound(topic, encode(event), qos, retain, label="event", msg_id=event.msg_id)
