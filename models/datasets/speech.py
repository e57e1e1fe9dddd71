"""Wake-word data with labels: `espeak-ng` speech mixed with noise at known SNRs.

Positives speak a wake phrase (`okay_nabu`, `alexa`, `hey_mycroft`, the microWakeWord models
that work on synthetic speech, docs/models.md); negatives are near-misses ("a lexus", "okay nana",
"hey minecraft"…) and ordinary sentences. Each clip varies the espeak-ng voice (en, en-us,
en-gb, …), its variant (+f3, +m3…), speed (words per minute) and pitch, is resampled from
espeak's 22,050 Hz to 16 kHz mono s16le, padded with silence (`lead_s` before the phrase, the
rest after, at least `min_duration_s` in all) and mixed with white, pink or brown noise at an
SNR of 20, 10 or 5 dB (or left clean).

SNR here is the mean power of the spoken phrase (espeak's output, trimmed of silence) over the
mean power of the noise across the whole clip. Clips are peak-limited by scaling speech and
noise together, which keeps the SNR.

`make_clip(i, seed)` is deterministic (`numpy.random.default_rng([seed, i])`, and espeak-ng is
deterministic); `load_speech(n, seed)` caches WAVs and `labels.json` under
`<data dir>/speech/`, and every espeak-ng utterance under `<data dir>/speech/tts/`.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.datasets import default_data_dir
from models.files import write_atomic

SAMPLE_RATE = 16_000
FORMAT_VERSION = 1
F32 = npt.NDArray[np.float32]

WAKE_PHRASES: dict[str, tuple[str, ...]] = {
    "okay_nabu": ("okay nabu", "ok nabu"),
    "alexa": ("alexa",),
    "hey_mycroft": ("hey mycroft",),
}
NEAR_MISSES: tuple[str, ...] = (
    "a lexus",
    "okay nana",
    "okay navy",
    "hey minecraft",
    "hey microsoft",
    "alexander",
    "okay google",
    "hey jarvis",
    "a taxi",
    "hey my car",
)
SENTENCES: tuple[str, ...] = (
    "turn on the kitchen lights",
    "what time is it",
    "the weather is nice today",
    "please close the door",
    "play some music",
    "set a timer for ten minutes",
    "good morning everyone",
    "where are my keys",
    "the train leaves at nine",
    "can you hear me",
    "dinner is ready",
    "open the window please",
)
VOICES: tuple[str, ...] = ("en", "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
VARIANTS: tuple[str, ...] = ("", "+f3", "+m3", "+f2", "+m1", "+f4", "+m7")
SPEEDS_WPM: tuple[int, ...] = (130, 150, 175, 200)
PITCHES: tuple[int, ...] = (30, 45, 60, 75)
SNRS_DB: tuple[float | None, ...] = (None, 20.0, 10.0, 5.0)
NOISES: tuple[str, ...] = ("white", "pink", "brown")


class SpeechUnavailableError(RuntimeError):
    """The synthesiser a voice needs is not installed (Debian `espeak-ng`, or `flite`)."""


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines a clip; `label` is the wake word id or None."""

    index: int
    phrase: str
    label: str | None
    kind: str  # "wake" | "near_miss" | "other" | "command" (models/datasets/commands.py)
    voice: str  # espeak-ng voice with variant, e.g. "en-us+f3", or "flite:<voice>"
    speed_wpm: int
    pitch: int
    snr_db: float | None  # None: clean
    noise: str
    lead_s: float
    min_duration_s: float
    gain_db: float  # speech level relative to the reference level
    noise_seed: int


@dataclass(frozen=True)
class SpeechClip:
    """A labelled clip: 16 kHz mono s16le WAV bytes plus what produced it."""

    spec: ClipSpec
    wav: bytes
    duration_s: float
    speech_s: float  # duration of the spoken phrase inside the clip

    @property
    def label(self) -> str | None:
        return self.spec.label

    @property
    def is_wake(self) -> bool:
        return self.spec.label is not None

    @property
    def pcm(self) -> bytes:
        """Raw s16le samples (the WAV without its header)."""
        with wave.open(io.BytesIO(self.wav)) as w:
            return bytes(w.readframes(w.getnframes()))

    def samples(self) -> npt.NDArray[np.int16]:
        return np.frombuffer(self.pcm, dtype="<i2")

    def meta(self) -> dict[str, Any]:
        return {**asdict(self.spec), "duration_s": self.duration_s, "speech_s": self.speech_s}


# ------------------------------------------------------------------------------- synthesis


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak() -> str:
    """The `espeak-ng` executable, or SpeechUnavailableError saying how to install it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechUnavailableError("espeak-ng not found: apt-get install espeak-ng")
    return exe


def _resample(x: F32, rate_in: int, rate_out: int) -> F32:
    if rate_in == rate_out:
        return x
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return np.asarray(resample_poly(x, rate_out // g, rate_in // g), dtype=np.float32)


def _trim(x: F32, threshold: float = 0.01) -> F32:
    loud = np.flatnonzero(np.abs(x) > threshold)
    if loud.size == 0:
        return x
    pad = int(0.01 * SAMPLE_RATE)
    return x[max(0, loud[0] - pad) : loud[-1] + pad + 1]


def _read_wav(data: bytes) -> tuple[F32, int]:
    with wave.open(io.BytesIO(data)) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"expected 16-bit WAV, got {8 * width}-bit")
    x = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x, rate


def to_wav(samples: npt.NDArray[np.int16], rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buf.getvalue()


FLITE_PREFIX = "flite:"
"""A voice named `flite:<voice>` (awb, rms, slt, kal16) is spoken by Debian's `flite`, CMU's
synthesiser of recorded voices, instead of espeak-ng's formant voices: a second, less robotic
synthesiser for speech recognition (docs/voice-commands.md). It ignores `pitch`."""
FLITE_VOICES: tuple[str, ...] = tuple(FLITE_PREFIX + v for v in ("awb", "rms", "slt", "kal16"))


def flite() -> str:
    """The `flite` executable, or SpeechUnavailableError saying how to install it."""
    exe = shutil.which("flite")
    if exe is None:
        raise SpeechUnavailableError("flite not found: apt-get install flite")
    return exe


def unknown_voice(voice: str) -> str | None:
    """Why `voice` cannot speak (a message to show), or None: a flite voice must be one of
    `FLITE_VOICES` (flite falls back to its default voice silently), an espeak-ng voice one
    that espeak-ng knows."""
    if voice.startswith(FLITE_PREFIX):
        if voice in FLITE_VOICES:
            return None
        return f"flite has no voice {voice!r}; known: {', '.join(FLITE_VOICES)}"
    try:
        exe = espeak()
    except SpeechUnavailableError as exc:
        return str(exc)
    done = subprocess.run([exe, "-q", "-v", voice, "a"], capture_output=True, check=False)
    if done.returncode == 0:
        return None
    return f"espeak-ng has no voice {voice!r} (espeak-ng --voices)"


def _tts_command(phrase: str, voice: str, speed_wpm: int, pitch: int, out: Path) -> list[str]:
    if voice.startswith(FLITE_PREFIX):
        exe = flite()
        stretch = f"{175 / speed_wpm:.3f}"  # flite's default pace is about 175 words/minute
        name = voice.removeprefix(FLITE_PREFIX)
        return [
            exe,
            "-voice",
            name,
            "--setf",
            f"duration_stretch={stretch}",
            "-t",
            phrase,
            "-o",
            str(out),
        ]
    return [espeak(), "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-w", str(out), phrase]


def synthesize(
    phrase: str,
    voice: str = "en-us",
    speed_wpm: int = 160,
    pitch: int = 50,
    data_dir: Path | None = None,
) -> F32:
    """Speech of `phrase` (espeak-ng, or flite for a `flite:` voice) as float32 at 16 kHz,
    silence trimmed; cached as WAV."""
    key = hashlib.sha1(f"{phrase}|{voice}|{speed_wpm}|{pitch}".encode()).hexdigest()[:16]
    cache = (data_dir or default_data_dir()) / "speech" / "tts" / f"{key}.wav"
    if cache.exists():
        x, _ = _read_wav(cache.read_bytes())
        return x
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        subprocess.run(
            _tts_command(phrase, voice, speed_wpm, pitch, out),
            check=True,
            capture_output=True,
            timeout=30,
        )
        raw, rate = _read_wav(out.read_bytes())
    x = _trim(_resample(raw, rate, SAMPLE_RATE))
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(cache, to_wav(_to_int16(x)))
    x, _ = _read_wav(cache.read_bytes())  # identical whether fresh or cached
    return x


def _to_int16(x: F32) -> npt.NDArray[np.int16]:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


# ----------------------------------------------------------------------------------- noise


def make_noise(kind: str, n: int, rng: np.random.Generator) -> F32:
    """Unit-power noise: `white`, `pink` (1/f) or `brown` (1/f², high-passed at ~20 Hz)."""
    white = rng.standard_normal(n)
    if kind == "white":
        y = white
    elif kind in {"pink", "brown"}:
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = 1.0
        shape = 1 / np.sqrt(f) if kind == "pink" else 1 / f
        shape[f < 20] = 0.0
        y = np.fft.irfft(spectrum * shape, n)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; choose from {NOISES}")
    y = y - y.mean()
    return np.asarray(y / np.sqrt(np.mean(y**2) + 1e-12), dtype=np.float32)


def power(x: npt.NDArray[Any]) -> float:
    return float(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def snr_db(signal: npt.NDArray[Any], noise: npt.NDArray[Any]) -> float:
    return float(10 * np.log10(power(signal) / max(power(noise), 1e-20)))


# ------------------------------------------------------------------------------------ clips

REFERENCE_RMS = 0.1  # speech level (-20 dBFS) before `gain_db`


def render(spec: ClipSpec, data_dir: Path | None = None) -> tuple[F32, F32, F32, slice]:
    """(mix, clean speech, noise, slice of the phrase) as float32 at 16 kHz, before quantising."""
    speech = synthesize(spec.phrase, spec.voice, spec.speed_wpm, spec.pitch, data_dir)
    speech = speech * np.float32(REFERENCE_RMS * 10 ** (spec.gain_db / 20) / np.sqrt(power(speech)))
    lead = round(spec.lead_s * SAMPLE_RATE)
    total = max(round(spec.min_duration_s * SAMPLE_RATE), lead + speech.size + SAMPLE_RATE // 4)
    clean = np.zeros(total, dtype=np.float32)
    where = slice(lead, lead + speech.size)
    clean[where] = speech
    if spec.snr_db is None:
        noise = np.zeros(total, dtype=np.float32)
    else:
        rng = np.random.default_rng(spec.noise_seed)
        unit = make_noise(spec.noise, total, rng)
        noise = unit * np.float32(np.sqrt(power(speech) / 10 ** (spec.snr_db / 10)))
    mix = clean + noise
    peak = float(np.max(np.abs(mix)))
    if peak > 0.95:  # scale both: keeps the SNR
        k = np.float32(0.95 / peak)
        mix, clean, noise = mix * k, clean * k, noise * k
    return mix, clean, noise, where


def clip_spec(
    index: int,
    seed: int = 0,
    *,
    positive_fraction: float = 0.5,
    near_miss_fraction: float = 0.5,
    min_duration_s: float = 1.5,
    wake_words: tuple[str, ...] = tuple(WAKE_PHRASES),
    voice: str | None = None,
) -> ClipSpec:
    """The (random but seeded) recipe of clip `index` in data set `seed`; `voice` speaks it
    instead of the drawn one (the rest of the recipe unchanged: the same clips in another
    voice)."""
    rng = np.random.default_rng([seed, index])
    r = rng.random()
    if r < positive_fraction:
        word = wake_words[int(rng.integers(len(wake_words)))]
        label: str | None = word
        phrases = WAKE_PHRASES[word]
        phrase, kind = phrases[int(rng.integers(len(phrases)))], "wake"
    elif r < positive_fraction + (1 - positive_fraction) * near_miss_fraction:
        label, kind = None, "near_miss"
        phrase = NEAR_MISSES[int(rng.integers(len(NEAR_MISSES)))]
    else:
        label, kind = None, "other"
        phrase = SENTENCES[int(rng.integers(len(SENTENCES)))]
    drawn = VOICES[int(rng.integers(len(VOICES)))] + VARIANTS[int(rng.integers(len(VARIANTS)))]
    return ClipSpec(
        index=index,
        phrase=phrase,
        label=label,
        kind=kind,
        voice=voice or drawn,
        speed_wpm=int(rng.choice(SPEEDS_WPM)),
        pitch=int(rng.choice(PITCHES)),
        snr_db=SNRS_DB[int(rng.integers(len(SNRS_DB)))],
        noise=NOISES[int(rng.integers(len(NOISES)))],
        lead_s=round(float(rng.uniform(0.15, 0.5)), 3),
        min_duration_s=min_duration_s,
        gain_db=round(float(rng.uniform(-6.0, 6.0)), 2),
        noise_seed=int(rng.integers(2**31)),
    )


def make_clip(spec: ClipSpec, data_dir: Path | None = None) -> SpeechClip:
    mix, _clean, _noise, where = render(spec, data_dir)
    return SpeechClip(
        spec,
        to_wav(_to_int16(mix)),
        duration_s=mix.size / SAMPLE_RATE,
        speech_s=(where.stop - where.start) / SAMPLE_RATE,
    )


def generate(
    n: int, seed: int = 0, data_dir: Path | None = None, **kwargs: Any
) -> list[SpeechClip]:
    """`n` clips of data set `seed` (espeak-ng utterances are cached, the clips are not)."""
    return [make_clip(clip_spec(i, seed, **kwargs), data_dir) for i in range(n)]


def load_speech(
    n: int = 120, seed: int = 0, data_dir: Path | None = None, **kwargs: Any
) -> list[SpeechClip]:
    """Like `generate`, caching `<data dir>/speech/<key>/{labels.json,NNNNN.wav}`."""
    base = data_dir or default_data_dir()
    given = {k: v for k, v in kwargs.items() if v is not None}  # None: clip_spec's default
    opts = hashlib.sha1(json.dumps(given, sort_keys=True, default=list).encode()).hexdigest()
    root = base / "speech" / f"v{FORMAT_VERSION}-seed{seed}-{opts[:8]}"
    labels_path = root / "labels.json"
    cached: dict[str, dict[str, Any]] = {}
    if labels_path.exists():
        try:
            cached = json.loads(labels_path.read_text())
        except (ValueError, OSError):
            cached = {}
    clips: list[SpeechClip] = []
    dirty = False
    for i in range(n):
        spec = clip_spec(i, seed, **kwargs)
        path = root / f"{i:05d}.wav"
        meta = cached.get(str(i))
        if meta is not None and path.exists() and meta.get("phrase") == spec.phrase:
            clips.append(SpeechClip(spec, path.read_bytes(), meta["duration_s"], meta["speech_s"]))
            continue
        clip = make_clip(spec, base)
        root.mkdir(parents=True, exist_ok=True)
        write_atomic(path, clip.wav)
        cached[str(i)] = clip.meta()
        clips.append(clip)
        dirty = True
    if dirty:
        write_atomic(labels_path, json.dumps(cached, indent=1, sort_keys=True))
    return clips


def wake_clip(
    word: str = "okay_nabu",
    *,
    voice: str = "en-us",
    duration_s: float = 1.8,
    snr: float | None = 20.0,
    data_dir: Path | None = None,
) -> SpeechClip:
    """One realistic 1.5-2 s clip of a wake phrase (bench and demo input)."""
    base = ClipSpec(
        index=-1,
        phrase=WAKE_PHRASES[word][0],
        label=word,
        kind="wake",
        voice=voice,
        speed_wpm=160,
        pitch=50,
        snr_db=snr,
        noise="pink",
        lead_s=0.3,
        min_duration_s=duration_s,
        gain_db=0.0,
        noise_seed=12345,
    )
    return make_clip(base, data_dir)


def phrase_clip(
    phrase: str, *, voice: str = "en-us", duration_s: float = 1.8, data_dir: Path | None = None
) -> SpeechClip:
    """A clip of any phrase (label None), e.g. a negative for the demo microphone."""
    spec = replace(
        wake_clip(data_dir=data_dir).spec,
        phrase=phrase,
        label=None,
        kind="other",
        voice=voice,
        min_duration_s=duration_s,
    )
    return make_clip(spec, data_dir)


__all__ = [
    "FLITE_VOICES",
    "NEAR_MISSES",
    "SAMPLE_RATE",
    "SENTENCES",
    "VOICES",
    "WAKE_PHRASES",
    "ClipSpec",
    "SpeechClip",
    "SpeechUnavailableError",
    "clip_spec",
    "espeak",
    "espeak_available",
    "flite",
    "generate",
    "load_speech",
    "make_clip",
    "make_noise",
    "phrase_clip",
    "render",
    "snr_db",
    "synthesize",
    "to_wav",
    "unknown_voice",
    "wake_clip",
]
