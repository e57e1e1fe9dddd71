"""The agent's own microphones: ALSA capture through `arecord` (alsa-utils, on every Raspberry
Pi OS image), 16 kHz mono s16le, streamed to a wake-word model in overlapping windows.

Why `arecord` and not a Python audio library: it is what Home Assistant's Wyoming satellites
run by default (`arecord -r 16000 -c 1 -f S16_LE -t raw`), it reads any ALSA device or plugin
(USB microphones, HATs through `plughw`, the `file` plugin the tests use), and its pipe is read
by the agent's event loop like a socket: no thread, no PortAudio, nothing to compile.

Every `hop_s` the last `window_s` of audio goes to the model (raw s16le, as an MQTT request
may send it, through `Dispatcher.submit`), while a hop of the window was louder than
`min_level_dbfs`: silence costs a pipe read and an RMS, not an inference. The next hop is read
only once the model answered: a model slower than real time makes ALSA overrun (arecord says
so and goes on) rather than the agent queue audio, and every decision is taken in audio time,
so what is detected does not depend on how the audio was delivered. After a detection the
windows that still hold the same phrase are skipped for `refractory_s`, so one spoken phrase
is one event; on an agent with voice commands the hops after it are recorded instead, until
the speaker pauses, and go to the hub as the command (edge_agent/voice_commands.py). A device
that fails or goes quiet (no audio for `READ_TIMEOUT_S`) is opened again with the sources'
backoff, and reported on `error` (`source_failed`) and in `health.sources`.
"""

import asyncio
import contextlib
import functools
import logging
import math
import shutil
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from edge_agent.errors import Rejected
from edge_agent.runner import Job
from edge_agent.sources.base import ANSWER_TIMEOUT_S, Source, SourceError, retry_wait
from edge_agent.sources.config import MicrophoneConfig
from edge_agent.utterance import CommandRecorder
from models.processing.voice import SAMPLE_RATE

if TYPE_CHECKING:
    from edge_agent.voice_commands import VoiceCommands

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 4.0
Recording = tuple["VoiceCommands", Job, str | None, CommandRecorder]  # whose, after which window
STDERR_CHARS = 300


def arecord_command(device: str) -> list[str]:
    """The capture command: raw 16 kHz mono s16le on stdout, quiet unless it fails."""
    arecord = shutil.which("arecord") or "arecord"
    rate = str(SAMPLE_RATE)
    return [arecord, "-D", device, "-q", "-t", "raw", "-f", "S16_LE", "-r", rate, "-c", "1"]


def level_dbfs(chunk: bytes) -> float:
    """RMS level of s16le audio in dB below full scale (-120 for digital silence)."""
    samples = np.frombuffer(chunk, "<i2").astype(np.float32)
    rms = math.sqrt(float(np.mean(samples * samples))) if samples.size else 0.0
    return 20 * math.log10(rms / 32768.0) if rms > 0 else -120.0


class MicrophoneSource(Source):
    """One configured microphone, from its audio to `submit`."""

    kind = "microphone"

    def __init__(
        self,
        config: MicrophoneConfig,
        *,
        submit: Callable[[Job], None],
        reject: Callable[[str, Rejected], None],
        commands: "VoiceCommands | None" = None,
    ) -> None:
        super().__init__(config.name, config.model, reject)
        self.config = config
        self._submit = submit
        self._hop_bytes = round(config.hop_s * SAMPLE_RATE) * 2
        self._window_bytes = round(config.window_s * SAMPLE_RATE) * 2
        self._window: deque[bytes] = deque(maxlen=max(1, self._window_bytes // self._hop_bytes))
        self._heard_at = -math.inf  # audio time (s) of the last hop louder than min_level_dbfs
        self._quiet_until = -math.inf  # audio time the refractory period after a detection ends
        self._commands = commands
        self._recording: Recording | None = None  # the command after a wake word, being heard
        self._audio_s = 0.0  # audio time: seconds read since start

    async def run(self) -> None:
        """The microphone's duty: listen until cancelled."""
        while True:  # the backoff starts again after every session that read audio
            retrying = AsyncRetrying(
                wait=retry_wait(),
                retry=retry_if_exception_type(SourceError),
                before_sleep=self._before_retry,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    await self._session()

    def _before_retry(self, state: RetryCallState) -> None:
        failed = state.outcome.exception() if state.outcome is not None else None
        message = self.failing(failed, f" (ALSA {self.config.device})")
        log.warning("%s; trying again in %.1f s", message, state.upcoming_sleep)
        self.report(message)

    async def _session(self) -> None:
        """Read audio until the device stops (return) or fails (SourceError)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *arecord_command(self.config.device),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # arecord itself is missing
            raise SourceError(f"cannot run arecord ({exc.strerror}): install alsa-utils") from None
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._window.clear()
        read_any = False
        try:
            while True:
                try:  # not wait_for: on 3.11 it swallows a cancel that meets ready audio
                    async with asyncio.timeout(READ_TIMEOUT_S):
                        chunk = await proc.stdout.readexactly(self._hop_bytes)
                except asyncio.IncompleteReadError:
                    said = await _said(proc.stderr)
                    if read_any:
                        log.info("microphone %s: capture ended (%s); again", self.name, said)
                        return
                    raise SourceError(f"arecord: {said or 'no audio'}") from None
                except TimeoutError:
                    raise SourceError(f"no audio for {READ_TIMEOUT_S:.0f} s") from None
                if not read_any:
                    read_any = True
                    if self.capturing():
                        log.info(
                            "microphone %s (ALSA %s): listening", self.name, self.config.device
                        )
                await self._hop(chunk)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # not wait(): on 3.11 it also waits for the pipes' EOF, which a stdout pipe whose
            # reading is paused (its buffer full) never sees; communicate() reads them out
            await proc.communicate()

    async def _hop(self, chunk: bytes) -> None:
        """One hop of audio read: counted, gated on sound, and the window to the model."""
        self.counters.read()
        self.counters.looked += 1
        self._audio_s += self.config.hop_s
        now = self._audio_s
        self._window.append(chunk)
        if (recording := self._recording) is not None:
            self._record(recording, chunk)
            return
        if level_dbfs(chunk) >= self.config.min_level_dbfs:
            self._heard_at = now
            self.counters.moving += 1
        if now - self._heard_at > self.config.window_s or now < self._quiet_until:
            return  # the window holds no sound, or the phrase just detected
        self.counters.inferred += 1
        answer: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        job = Job(
            self.config.model,
            None,
            self.source_topic,
            b"".join(self._window),
            time.perf_counter(),
            on_answer=functools.partial(_resolve, answer),
        )
        self._submit(job)
        try:  # the next hop waits: no audio queues up in the agent
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                output = await answer
        except TimeoutError:
            log.warning("microphone %s: no answer in %.0f s; going on", self.name, ANSWER_TIMEOUT_S)
            return
        if output is not None and output.get("detected") is True:
            self._quiet_until = now + self.config.refractory_s
            end_s = output.get("end_s")
            if self._commands is not None and isinstance(end_s, float):
                # the window, past the wake word
                after = job.payload[round(end_s * SAMPLE_RATE) * 2 :]
                recorder = CommandRecorder(self._commands.config, after)
                self._recording = (self._commands, job, output.get("wake_word"), recorder)

    def _record(self, recording: "Recording", chunk: bytes) -> None:
        """A hop of the command after a wake word; the whole command, once it ended, goes to
        the hub (`VoiceCommands.recorded`). No wake word is listened for meanwhile."""
        commands, job, wake_word, recorder = recording
        if recorder.feed(chunk):
            self._recording = None
            commands.recorded(job, wake_word, bytes(recorder.audio))


def _resolve(
    answer: "asyncio.Future[dict[str, Any] | None]", output: dict[str, Any] | None
) -> None:
    if not answer.done():  # not cancelled meanwhile (the agent stopping)
        answer.set_result(output)


async def _said(stderr: asyncio.StreamReader) -> str:
    """What arecord wrote on stderr (its error), shortened."""
    try:
        text = await asyncio.wait_for(stderr.read(), 1.0)
    except TimeoutError:
        return ""
    return text.decode(errors="replace").strip()[-STDERR_CHARS:]
