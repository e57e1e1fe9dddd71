"""Wake words on espeak-ng speech, and equality with the reference libraries' streaming code."""

import numpy as np
import pytest

from contract.errors import ErrorCode
from models.errors import InputError
from models.pipelines import AnyPipeline
from models.processing.voice import encode_wav

from .conftest import synthesize

# espeak-ng en-us at 150 wpm. "hay my croft": espeak's reading of "mycroft" ("mick-roft")
# is not what openWakeWord was trained on; this spelling is the phrase as people say it.
PHRASES = [
    ("okay nabu", "okay_nabu"),
    ("alexa", "alexa"),
    ("hay my croft", "hey_mycroft"),
    ("what time is it", None),
    ("turn on the kitchen lights", None),
]


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    return {text: synthesize(text) for text, _ in PHRASES}


@pytest.mark.parametrize("model_id", ["wakeword-lite", "wakeword-full"])
@pytest.mark.parametrize(("text", "word"), PHRASES)
def test_wake_words(
    pipelines: dict[str, AnyPipeline],
    clips: dict[str, np.ndarray],
    model_id: str,
    text: str,
    word: str | None,
) -> None:
    out = pipelines[model_id].run(encode_wav(clips[text]))
    assert out.detected is (word is not None), out
    assert out.wake_word == word
    assert set(out.probabilities) == {"okay_nabu", "alexa", "hey_mycroft"}
    assert out.duration_s == pytest.approx(len(clips[text]) / 16000)
    if word:
        assert out.probability == out.probabilities[word] > 0.5


@pytest.mark.parametrize("model_id", ["wakeword-lite", "wakeword-full"])
def test_state_does_not_leak_between_clips(
    pipelines: dict[str, AnyPipeline], clips: dict[str, np.ndarray], model_id: str
) -> None:
    pipeline = pipelines[model_id]
    negative = encode_wav(clips["what time is it"])
    before = pipeline.run(negative)
    pipeline.run(encode_wav(clips["hay my croft"]))
    assert pipeline.run(negative) == before


def test_micro_matches_pymicro_wakeword(
    pipelines: dict[str, AnyPipeline], clips: dict[str, np.ndarray]
) -> None:
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

    samples = clips["okay nabu"]
    ours = pipelines["wakeword-lite"].run(samples.tobytes()).probabilities
    for model in (Model.OKAY_NABU, Model.ALEXA, Model.HEY_MYCROFT):
        detector, features = MicroWakeWord.from_builtin(model), MicroWakeWordFeatures()
        probs = [
            detector.process_streaming_prob(f)
            for f in features.process_streaming(samples.tobytes())
        ]
        assert ours[model.value] == pytest.approx(max(p or 0.0 for p in probs), abs=0.01)


def test_open_matches_pyopen_wakeword(
    pipelines: dict[str, AnyPipeline], clips: dict[str, np.ndarray]
) -> None:
    from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

    pipeline = pipelines["wakeword-full"]
    samples = clips["alexa"]
    padded = pipeline.preprocess(samples)[1280:].astype(np.int16).tobytes()  # whole chunks
    ours = pipeline.run(samples.tobytes()).probabilities
    for model in (Model.OKAY_NABU, Model.ALEXA, Model.HEY_MYCROFT):
        detector, features = OpenWakeWord.from_builtin(model), OpenWakeWordFeatures.from_builtin()
        probs: list[float] = []
        for i in range(0, len(padded), 2560):
            for embedding in features.process_streaming(padded[i : i + 2560]):
                probs.extend(detector.process_streaming(embedding))
        assert ours[model.value] == pytest.approx(max(probs), abs=1e-3)


@pytest.mark.parametrize("model_id", ["wakeword-lite", "wakeword-full"])
def test_bad_audio_is_rejected(pipelines: dict[str, AnyPipeline], model_id: str) -> None:
    with pytest.raises(InputError) as info:
        pipelines[model_id].run(b"\x00\x01\x02")
    assert info.value.code is ErrorCode.BAD_AUDIO


@pytest.mark.parametrize("model_id", ["wakeword-lite", "wakeword-full"])
def test_very_short_clip_is_not_a_detection(
    pipelines: dict[str, AnyPipeline], model_id: str
) -> None:
    out = pipelines[model_id].run(bytes(64))
    assert not out.detected
