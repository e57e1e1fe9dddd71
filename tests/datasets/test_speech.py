"""espeak-ng wake-word data: labels, durations, format, SNR, determinism, caching."""

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from models.datasets import speech
from tests.fixtures.requires import require_tools


@pytest.fixture(autouse=True)
def _espeak() -> None:
    require_tools("espeak-ng")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-data")


@pytest.fixture(scope="module")
def clips(data_dir: Path) -> list[speech.SpeechClip]:
    return speech.load_speech(30, seed=7, data_dir=data_dir)


def test_wav_format_is_16k_mono_s16le(clips: list[speech.SpeechClip]) -> None:
    for c in clips:
        with wave.open(io.BytesIO(c.wav)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16_000, 1, 2)
            assert w.getnframes() == len(c.samples())


def test_labels_match_phrases(clips: list[speech.SpeechClip]) -> None:
    kinds = {c.spec.kind for c in clips}
    assert kinds == {"wake", "near_miss", "other"}
    for c in clips:
        if c.spec.kind == "wake":
            assert c.label in speech.WAKE_PHRASES
            assert c.spec.phrase in speech.WAKE_PHRASES[c.label]
        else:
            assert c.label is None
            pool = speech.NEAR_MISSES if c.spec.kind == "near_miss" else speech.SENTENCES
            assert c.spec.phrase in pool


def test_durations_cover_the_phrase_with_padding(clips: list[speech.SpeechClip]) -> None:
    for c in clips:
        assert c.duration_s >= c.spec.min_duration_s
        assert 0.2 < c.speech_s < c.duration_s
        assert c.duration_s >= c.spec.lead_s + c.speech_s + 0.2
        assert abs(c.duration_s - len(c.samples()) / 16_000) < 1e-6
        # lead-in holds no speech: a clean clip is silent there
        if c.spec.snr_db is None:
            lead = c.samples()[: int(c.spec.lead_s * 16_000) - 10]
            assert np.abs(lead).max() <= 1


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0])
@pytest.mark.parametrize("noise", ["white", "pink", "brown"])
def test_snr_is_roughly_right(data_dir: Path, snr: float, noise: str) -> None:
    spec = speech.wake_clip(data_dir=data_dir, snr=snr).spec
    spec = type(spec)(**{**spec.__dict__, "noise": noise})
    clip = speech.make_clip(spec, data_dir)
    clean = speech.make_clip(type(spec)(**{**spec.__dict__, "snr_db": None}), data_dir)
    noisy, ref = clip.samples().astype(np.float64), clean.samples().astype(np.float64)
    lead = int(spec.lead_s * 16_000)
    phrase = slice(lead, lead + int(clip.speech_s * 16_000))
    measured = speech.snr_db(ref[phrase], noisy - ref)
    assert measured == pytest.approx(snr, abs=0.5)


def test_deterministic_and_cached(clips: list[speech.SpeechClip], data_dir: Path) -> None:
    again = speech.load_speech(30, seed=7, data_dir=data_dir)
    assert [c.wav for c in again] == [c.wav for c in clips]
    fresh = speech.generate(5, seed=7, data_dir=data_dir)
    assert [c.wav for c in fresh] == [c.wav for c in clips[:5]]
    assert len(list((data_dir / "speech").rglob("0000*.wav"))) >= 5
    other = speech.clip_spec(0, seed=8)
    assert other != clips[0].spec


def test_bench_clip_is_1_5_to_2_s_of_the_wake_phrase(data_dir: Path) -> None:
    clip = speech.wake_clip("okay_nabu", data_dir=data_dir)
    assert 1.5 <= clip.duration_s <= 2.0
    assert clip.label == "okay_nabu"
    assert np.abs(clip.samples()).max() > 1000


def test_noise_is_unit_power_and_seeded() -> None:
    for kind in speech.NOISES:
        a = speech.make_noise(kind, 16_000, np.random.default_rng(1))
        b = speech.make_noise(kind, 16_000, np.random.default_rng(1))
        assert np.array_equal(a, b)
        assert speech.power(a) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="unknown noise"):
        speech.make_noise("purple", 10, np.random.default_rng(0))
