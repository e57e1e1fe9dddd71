"""`wakeword-cloud`: the hub's wake-word verifier, its training data kept apart from what the
benchmarks measure, and the model itself against the device's on clips it never heard."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract.errors import ErrorCode
from models.catalogue import Catalogue
from models.cli import app
from models.datasets import DATA_DIR_ENV, speech
from models.errors import InputError
from models.fetch import model_path
from models.pipelines import load_pipeline
from models.training import wake_verifier as training
from tests.fixtures.requires import require_models, require_tools


def test_phoneme_neighbours_are_near_but_not_the_wake_phrase() -> None:
    require_tools("espeak-ng")
    held_out = {training.phonemes(p).replace(" ", "") for p in training.HELD_OUT_NEAR_MISSES}
    for phrases in speech.WAKE_PHRASES.values():
        spoken = training.phonemes(phrases[0])
        neighbours = training.phoneme_neighbours(phrases[0])
        assert len(neighbours) >= 4, phrases
        for n in neighbours:
            inner = n.removeprefix("[[").removesuffix("]]")
            assert inner != spoken
            assert inner.replace(" ", "") not in held_out  # "a lexus" stays unheard
            # one consonant replaced, or one appended
            assert len(inner) - len(spoken) in (0, 1), (spoken, inner)
    assert "[[a#l'Eks@t]]" in training.phoneme_neighbours("alexa")


def test_the_heads_outputs_are_the_catalogues_labels(catalogue: Catalogue) -> None:
    spec = catalogue.get(training.MODEL_ID)
    assert spec.labels == list(training.LABELS)
    assert spec.members == [training.EMBEDDER]


def test_training_never_uses_what_the_benchmark_holds_out() -> None:
    require_tools("espeak-ng")
    specs = training.training_specs(400)
    voices = {s.voice for s in specs}
    assert not any(v.split("+")[0] in training.HELD_OUT_VOICES for v in voices)
    flite = {v for v in voices if v.startswith("flite:")}
    assert flite == set(training.FLITE_TRAINING_VOICES)  # three of flite's four voices
    assert "flite:kal16" in speech.FLITE_VOICES
    assert "flite:kal16" not in voices
    assert not any(s.phrase.startswith("[[") for s in specs if s.voice in flite)
    assert not any("+" + v.split("+")[1] in training.HELD_OUT_VARIANTS for v in voices if "+" in v)
    assert not {s.phrase for s in specs} & training.HELD_OUT_NEAR_MISSES
    assert {s.speed_wpm for s in specs} <= set(training.SPEEDS_WPM)
    assert not {s.speed_wpm for s in specs} & set(speech.SPEEDS_WPM)
    assert any(s.phrase.startswith("[[") for s in specs)  # phoneme neighbours are spoken
    assert {s.kind for s in specs} == {"wake", "near_miss", "other"}


@pytest.fixture(scope="module")
def verifier() -> object:
    require_models("wakeword-cloud")
    return load_pipeline("wakeword-cloud")


def test_the_verifier_is_right_more_often_than_the_device(verifier: object, tmp_path: Path) -> None:
    """60 clips of a generator seed neither training (777) nor the benchmark (0) uses.
    Measured: device 45/60 right (75 %), verifier 56/60 (93 %)."""
    require_tools("espeak-ng")
    require_models("wakeword-lite")
    device = load_pipeline("wakeword-lite")
    clips = speech.load_speech(60, seed=11, data_dir=tmp_path)
    right = {"device": 0, "verifier": 0}
    false_alarms = {"device": 0, "verifier": 0}
    for clip in clips:
        for name, pipeline in (("device", device), ("verifier", verifier)):
            out = pipeline.run(clip.wav)  # type: ignore[attr-defined]
            said = out.wake_word if out.detected else None
            right[name] += said == clip.label
            false_alarms[name] += said is not None and clip.spec.kind == "near_miss"
    assert right["verifier"] >= right["device"] + 6, right  # >= 10 points on 60 clips
    assert false_alarms["verifier"] < false_alarms["device"], false_alarms


def test_on_a_voice_it_never_heard_the_verifier_is_right_more_often_than_the_device(
    verifier: object, tmp_path: Path
) -> None:
    """flite's `kal16`, a recorded voice held out of training. Trained on espeak-ng alone the
    verifier was right on 58 % of such clips against the device's 79 % (a cascade that verified
    with it lost accuracy); trained on three of flite's voices too: 103 of 120 against the
    device's 95 (docs/models.md)."""
    require_tools("espeak-ng", "flite")
    require_models("wakeword-lite")
    device = load_pipeline("wakeword-lite")
    right = {"device": 0, "verifier": 0}
    for clip in speech.load_speech(120, seed=99, data_dir=tmp_path, voice="flite:kal16"):
        for name, pipeline in (("device", device), ("verifier", verifier)):
            out = pipeline.run(clip.wav)  # type: ignore[attr-defined]
            right[name] += (out.wake_word if out.detected else None) == clip.label
    assert right["verifier"] > right["device"], right


def test_the_verifier_answers_in_the_wake_word_shape(verifier: object) -> None:
    require_tools("espeak-ng")
    out = verifier.run(speech.wake_clip("alexa").wav)  # type: ignore[attr-defined]
    assert (out.detected, out.wake_word) == (True, "alexa")
    assert set(out.probabilities) == {"okay_nabu", "alexa", "hey_mycroft"}
    assert out.probability == max(out.probabilities.values())
    quiet = verifier.run(speech.phrase_clip("the weather is nice today").wav)  # type: ignore[attr-defined]
    assert (quiet.detected, quiet.wake_word) == (False, None)
    with pytest.raises(InputError) as info:
        verifier.run(b"\x00\x01\x02")  # type: ignore[attr-defined]  # half a sample
    assert info.value.code is ErrorCode.BAD_AUDIO


def test_fetch_without_espeak_says_why_it_cannot_build(
    catalogue: Catalogue, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_models("wakeword-full")
    import shutil

    full = catalogue.get("wakeword-full")
    shutil.copytree(model_path(full, model_dir), model_path(full, tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    # no cached speech either: a work tree that built the verifier once holds every clip
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["fetch", "wakeword-cloud", "--model-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "cannot build wakeword-cloud" in result.output
    assert "espeak-ng" in result.output
    assert not (model_path(catalogue.get("wakeword-cloud"), tmp_path) / "model.onnx").exists()
