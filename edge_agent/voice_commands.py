"""Voice commands on the device: after a wake word, the speech that follows it goes to the
hub's speech-to-intent model (`voice_commands.model`), and what it asks for is published as an
`intent` event.

The device keeps what it is good at (hearing its wake word, finding where the command ends:
edge_agent/utterance.py) and the hub does what it is good at (recognising words against the
fleet's grammar: models/pipelines/speech_intent.py), as in Home Assistant's Assist pipeline.
The event goes through the outbox like every event, so it survives a broker restart. A command
the hub cannot hear now is not queued for later (a light switched on an hour after it was asked
for is a fault, not a delivery): the device publishes an `error` (`hub_unavailable`) with the
wake word's request id, and its `wakeword` event and result stand (docs/voice-commands.md).
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from contract import ErrorCode, Event, IntentEventData, IntentOutput
from contract.event import NOT_UNDERSTOOD
from edge_agent.cloud import CloudClient, CloudError
from edge_agent.errors import Rejected
from edge_agent.messages import Outbound
from edge_agent.replies import Replies
from edge_agent.runner import Job
from edge_agent.stats import Stats
from edge_agent.utterance import Utterance, command_after
from edge_agent.voice_config import VoiceCommandsConfig
from models.processing import voice

log = logging.getLogger(__name__)

INTENT = "intent"  # the event kind


def intent_types() -> list[str]:
    """`IntentEventData.event_type`s: the intents of the fleet's commands, and not understood."""
    from models.processing.commands import DEFAULT_COMMANDS

    return [*DEFAULT_COMMANDS.actions, NOT_UNDERSTOOD]


def _field(output: BaseModel | Mapping[str, Any], name: str) -> Any:
    """A field of an output model or of its JSON dict (the hub's answers are dicts)."""
    if isinstance(output, Mapping):
        return output.get(name)
    return getattr(output, name, None)


def intent_data(
    answer: IntentOutput, wake_word: str | None, job: Job, utterance: Utterance, version: str
) -> IntentEventData:
    """The `intent` event's data from the hub's answer."""
    return IntentEventData(
        event_type=(answer.intent or NOT_UNDERSTOOD) if answer.understood else NOT_UNDERSTOOD,
        understood=answer.understood,
        intent=answer.intent,
        target=answer.target,
        area=answer.area,
        text=answer.text,
        score=answer.score,
        wake_word=wake_word,
        wake_rid=job.rid,
        command_s=round(utterance.duration_s, 3),
        model_version=version,
        source_topic=job.source_topic,
    )


class VoiceCommands:
    """Hears every answered request (`heard`); a wake-word detection with speech after it is a
    command, asked of the hub in a task of its own."""

    def __init__(
        self,
        config: VoiceCommandsConfig,
        cloud: CloudClient,
        replies: Replies,
        stats: Stats,
        answer: Callable[[list[Outbound]], None],
        reject: Callable[[str, Rejected], None],
    ) -> None:
        self.config, self.cloud, self.replies, self.stats = config, cloud, replies, stats
        self._answer, self._reject = answer, reject
        self._tasks: set[asyncio.Task[None]] = set()

    def heard(self, job: Job, output: BaseModel | Mapping[str, Any]) -> None:
        """`job` was answered with `output` (edge or cloud): cheap unless it is a detection
        that says where the wake word ended (`WakeWordOutput.end_s`); the command is then
        looked for in the rest of the clip. The agent's own microphone (a job with
        `on_answer`) keeps listening after its window instead, and calls `recorded`."""
        if job.shadow or job.peer_request or job.on_answer is not None:
            return
        end_s = _field(output, "end_s")
        if _field(output, "detected") is not True or not isinstance(end_s, int | float):
            return
        self._spawn(self._command(job, _field(output, "wake_word"), job.payload, float(end_s)))

    def recorded(self, job: Job, wake_word: str | None, audio: bytes) -> None:
        """What a microphone recorded after its wake word fired (raw s16le), for `job`, the
        window the wake word was heard in."""
        self._spawn(self._command(job, wake_word, audio, 0.0))

    def _spawn(self, command: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(command)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, job: Job, wake_word: str | None, audio: bytes, start_s: float) -> None:
        utterance = await asyncio.to_thread(self._utterance, audio, start_s)
        if utterance is None:
            self.stats.count("voice.no_command")  # the wake word said alone
            return
        self.stats.count("voice.commands")
        command = utterance.samples.astype("<i2").tobytes()
        try:
            called = await self.cloud.infer(
                self.config.model, command, "audio/L16", job.rid, timeout_s=self.config.timeout_s
            )
            answer = IntentOutput.model_validate(called.result.output)
        except (CloudError, ValidationError) as exc:  # the hub away, or not serving intents
            self.stats.count("voice.hub_unavailable")
            why = f"the spoken command after {wake_word or 'the wake word'} was not understood: "
            self._reject(
                job.source_topic,
                Rejected(ErrorCode.HUB_UNAVAILABLE, f"{why}{exc}", rid=job.rid),
            )
            return
        self.stats.count("voice.understood" if answer.understood else "voice.not_understood")
        data = intent_data(answer, wake_word, job, utterance, called.result.model_version)
        self._answer([self.event(job, data)])

    def _utterance(self, audio: bytes, start_s: float) -> Utterance | None:
        # decoded again: the job kept its bytes, not the samples the model saw
        samples = voice.decode_audio(audio, max_seconds=float("inf"))
        return command_after(samples, start_s, self.config)

    def event(self, job: Job, data: IntentEventData) -> Outbound:
        event = Event(
            kind=INTENT,
            model=self.config.model,
            rid=job.rid,
            msg_id=uuid.uuid4().hex,
            data=data.model_dump(mode="json"),
        )
        return self.replies.event(event)
