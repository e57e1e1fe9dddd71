"""`voice-command`: the fleet's command grammar, how a transcript becomes an intent, and the
real recogniser (pocketsphinx, its packaged en-US model) on spoken commands."""

import re

import pytest

from contract.errors import ErrorCode
from models.datasets import speech
from models.datasets.commands import (
    HELD_OUT_PHRASINGS,
    HELD_OUT_VOICES,
    SPLITS,
    TUNING_PHRASINGS,
    TUNING_VOICES,
    command_spec,
    generate_commands,
)
from models.errors import InputError
from models.pipelines import load_pipeline
from models.processing.commands import DEFAULT_COMMANDS, CommandSet, Intent
from tests.fixtures.requires import require_models, require_tools


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("turn on the kitchen light", Intent("turn_on", "light", "kitchen")),
        ("please turn the living room tv off", Intent("turn_off", "television", "living room")),
        ("switch off the lamp in the lounge", Intent("turn_off", "light", "living room")),
        ("office heating on", Intent("turn_on", "heater", "office")),
        ("turn on the fan", Intent("turn_on", "fan", None)),
        ("turn on", Intent("turn_on", None, None)),  # a partial transcript
        ("", Intent(None, None, None)),
    ],
)
def test_a_transcript_states_an_intent(text: str, intent: Intent) -> None:
    assert DEFAULT_COMMANDS.parse(text) == intent


def test_only_an_action_and_a_device_are_understood() -> None:
    assert Intent("turn_on", "fan", None).understood
    assert not Intent("turn_on", None, "kitchen").understood
    assert not Intent(None, "fan", "kitchen").understood


def test_words_inside_other_words_are_not_read() -> None:
    # "one" holds "on", "often" holds "off", "fans" is not "fan"
    assert DEFAULT_COMMANDS.parse("someone often fans the kitchen") == Intent(None, None, "kitchen")


def test_the_grammar_spells_every_spoken_form() -> None:
    grammar = DEFAULT_COMMANDS.jsgf()
    rules = dict(re.findall(r"^<(\w+)> = (.*);$", grammar, re.M))
    assert set(rules["target"].split(" | ")) == {
        f for forms in DEFAULT_COMMANDS.targets.values() for f in forms
    }
    assert "living room" in rules["area"].split(" | ")
    spoken = {w for r in rules.values() for w in re.findall(r"[a-z]+", re.sub(r"<\w+>", "", r))}
    assert spoken <= DEFAULT_COMMANDS.words()


def test_every_phrasing_of_the_data_set_fits_the_grammars_rules() -> None:
    """Held-out phrasings are new sentences, not new rules: each fills the rules' slots."""
    pattern = re.compile(
        r"^(please )?(((turn|switch) (on|off) the (\w+ )?(\w+)( in the \w+)?)"
        r"|((turn|switch) the (\w+ )?(\w+)( in the \w+)? (on|off))|(\w+ \w+ (on|off)))$"
    )
    for phrasing in TUNING_PHRASINGS + HELD_OUT_PHRASINGS:
        text = phrasing.format(action="on", area="garage", target="fan")
        assert pattern.match(text), text


def test_the_splits_keep_tuning_and_held_out_apart() -> None:
    assert not set(TUNING_PHRASINGS) & set(HELD_OUT_PHRASINGS)
    assert not set(TUNING_VOICES) & set(HELD_OUT_VOICES)
    assert command_spec(3, "held_out", 1) == command_spec(3, "held_out", 1)
    spec, truth = command_spec(3, "held_out", 1)
    assert spec.voice in HELD_OUT_VOICES
    assert truth.understood
    with pytest.raises(ValueError, match="unknown split"):
        generate_commands(1, "nope")
    assert "flite" in SPLITS


def test_a_word_missing_from_the_dictionary_is_refused_at_load() -> None:
    require_models("voice-command")
    from models.catalogue import load_catalogue
    from models.errors import CatalogueError
    from models.fetch import verified_files
    from models.pipelines.speech_intent import SpeechIntentPipeline

    spec = load_catalogue().get("voice-command")
    odd = CommandSet(areas={"qwzx": ("qwzxroom",)})
    with pytest.raises(CatalogueError, match="qwzxroom"):
        SpeechIntentPipeline(spec, verified_files(spec), commands=odd)


@pytest.mark.parametrize("voice", ["en-us", "flite:slt"])
def test_spoken_commands_are_understood(voice: str) -> None:
    require_models("voice-command")
    require_tools("espeak-ng", "flite")
    model = load_pipeline("voice-command")
    said = {
        "turn on the kitchen light": Intent("turn_on", "light", "kitchen"),
        "turn the bedroom fan off": Intent("turn_off", "fan", "bedroom"),
        "switch off the heater in the garage": Intent("turn_off", "heater", "garage"),
        "office television on": Intent("turn_on", "television", "office"),
    }
    for text, intent in said.items():
        out = model.run(speech.phrase_clip(text, voice=voice, duration_s=2.5).wav)
        assert (out.intent, out.target, out.area) == (intent.intent, intent.target, intent.area)
        assert out.understood
        assert out.text
        assert out.duration_s == pytest.approx(2.5, abs=0.01)
    # the grammar forces a transcript onto anything ("living room lights on"); how poorly its
    # words fit the sounds is what refuses it
    out = model.run(
        speech.phrase_clip("the weather is nice today", voice=voice, duration_s=2.5).wav
    )
    assert out.text
    assert not out.understood
    assert out.score is not None
    assert out.score < model.min_word_score


def test_a_clip_decodes_the_same_whatever_came_before() -> None:
    """The recogniser's noise estimate and cepstral mean start afresh for every clip."""
    require_models("voice-command")
    model = load_pipeline("voice-command")
    clips = generate_commands(6, "voices", 4)
    forward = [model.run(c.wav) for c in clips]
    backward = [model.run(c.wav) for c in reversed(clips)][::-1]
    assert forward == backward


def test_silence_is_not_a_command_and_bad_audio_is_refused() -> None:
    require_models("voice-command")
    model = load_pipeline("voice-command")
    out = model.run(speech.to_wav(speech.np.zeros(16000, dtype=speech.np.int16)))
    assert not out.understood
    with pytest.raises(InputError) as bad:
        model.run(b"RIFF....WAVEfmt nonsense")
    assert bad.value.code == ErrorCode.BAD_AUDIO
    with pytest.raises(InputError) as long:
        model.run(b"\x00\x00" * 16000 * 11)
    assert long.value.code == ErrorCode.TOO_LARGE
