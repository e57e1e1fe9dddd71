"""The command after a wake word: where its speech starts and ends, by WebRTC's voice-activity
detector (`webrtcvad-wheels`: a few kB of C, microseconds per 30 ms frame), so the hub gets the
command and not the room.

Why WebRTC's detector and not Silero's: it needs no model runtime and no weights, and on a
device that already heard a wake word its only job is to find the end of one short utterance.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.voice_config import VoiceCommandsConfig
from models.processing import voice

RATE = voice.SAMPLE_RATE

FRAME = 480  # 30 ms: one of the three frame lengths the detector takes
FRAME_S = FRAME / RATE
PAD_S = 0.15  # audio kept on each side of the speech: the recogniser needs its onset and fade


@dataclass(frozen=True, slots=True)
class Utterance:
    """The speech found after `start_s`: `samples` (int16, padded) and its place in the clip."""

    samples: np.ndarray
    start_s: float
    end_s: float
    speech_s: float  # frames the detector took for speech

    @property
    def duration_s(self) -> float:
        return len(self.samples) / RATE


def _vad(aggressiveness: int) -> Any:
    import webrtcvad  # only an agent with voice commands needs it (footprint: docs/agent.md)

    return webrtcvad.Vad(aggressiveness)


def speech_frames(samples: np.ndarray, aggressiveness: int) -> np.ndarray:
    """One bool per whole 30 ms frame of int16 `samples`: whether it holds speech."""
    vad = _vad(aggressiveness)
    frames = len(samples) // FRAME
    audio = samples[: frames * FRAME].astype("<i2").tobytes()
    step = FRAME * 2
    return np.array(
        [vad.is_speech(audio[k * step : (k + 1) * step], RATE) for k in range(frames)], bool
    )


class CommandRecorder:
    """A microphone's audio after its wake word, fed hop by hop (raw s16le) until the command
    ended: a pause of `silence_s` after speech, no speech for `wait_s`, or `max_seconds` in all.
    Each 30 ms frame is classified once, as it arrives (~10 us each)."""

    def __init__(self, config: VoiceCommandsConfig, audio: bytes = b"") -> None:
        self.config = config
        self.audio = bytearray()
        self._vad = _vad(config.vad_aggressiveness)
        self._frames = 0
        self._last_speech = -1  # index of the last speech frame
        self.feed(audio)

    def feed(self, chunk: bytes) -> bool:
        """Add `chunk`; True once the command ended (`audio` holds all of it)."""
        self.audio += chunk
        step = FRAME * 2
        while (self._frames + 1) * step <= len(self.audio):
            frame = bytes(self.audio[self._frames * step : (self._frames + 1) * step])
            if self._vad.is_speech(frame, RATE):
                self._last_speech = self._frames
            self._frames += 1
        return self.ended

    @property
    def ended(self) -> bool:
        heard_s = self._frames * FRAME_S
        if heard_s >= self.config.max_seconds:
            return True
        if self._last_speech < 0:
            return heard_s >= self.config.wait_s
        return (self._frames - 1 - self._last_speech) * FRAME_S >= self.config.silence_s


def command_after(
    samples: np.ndarray, start_s: float, config: VoiceCommandsConfig
) -> Utterance | None:
    """The utterance that follows `start_s` in `samples` (16 kHz int16): from its first speech
    frame to the first pause of `config.silence_s` (or the end of the audio, or
    `config.max_seconds`); None when it holds less than `config.min_speech_s` of speech."""
    begin = min(len(samples), max(0, round(start_s * RATE)))
    tail = samples[begin : begin + round(config.max_seconds * RATE)]
    speech = speech_frames(tail, config.vad_aggressiveness)
    heard = np.flatnonzero(speech)
    if heard.size == 0:
        return None
    first, last = int(heard[0]), int(heard[0])
    pause = max(1, round(config.silence_s / FRAME_S))
    for k in heard[1:]:
        if k - last > pause:
            break
        last = int(k)
    spoken = int(speech[first : last + 1].sum())
    if spoken * FRAME_S < config.min_speech_s:
        return None
    pad = round(PAD_S * RATE)
    lo = max(0, first * FRAME - pad)
    hi = min(len(tail), (last + 1) * FRAME + pad)
    return Utterance(
        samples=tail[lo:hi],
        start_s=(begin + lo) / RATE,
        end_s=(begin + hi) / RATE,
        speech_s=spoken * FRAME_S,
    )


WAKE_BEFORE_S = 2.0
"""Audio kept before the moment a wake word fired when only the wake phrase is wanted: the
hub's verifier was trained on clips of 1.5-2.5 s and vetoes the same phrase in a longer clip
(a wake word followed by a command), so it is sent the phrase alone."""
WAKE_AFTER_S = 0.25


def wake_window(payload: bytes, output: object) -> bytes:
    """`payload` (WAV or s16le) cut to the wake phrase when `output` is a detection that says
    where it fired (`end_s`) and the clip is longer than the window; else `payload` as is."""
    end_s = getattr(output, "end_s", None)
    if not isinstance(end_s, float) or getattr(output, "detected", False) is not True:
        return payload
    samples = voice.decode_audio(payload, max_seconds=float("inf"))
    if len(samples) <= (WAKE_BEFORE_S + WAKE_AFTER_S + 0.5) * RATE:
        return payload
    lo, hi = round((end_s - WAKE_BEFORE_S) * RATE), round((end_s + WAKE_AFTER_S) * RATE)
    return samples[max(0, lo) : hi].astype("<i2").tobytes()
