"""Training `wakeword-cloud`'s head (models/pipelines/verifier.py) on generated speech.

The clips come from the same espeak-ng generator as the benchmarks' (models/datasets/speech.py)
but are kept apart from what the benchmarks measure, so that `bench offload` reports how the
verifier does on speech it never heard: one voice (`en-029`), two voice variants (`+m7`,
`+f4`) and three near-miss phrases ("hey microsoft", "a lexus", "okay nana") are never used
in training, and speeds and pitches are drawn from values between the benchmarks'.

A quarter of the clips are spoken by three of flite's four recorded voices instead of espeak-ng's
formant ones; the fourth (`kal16`) is held out, the unseen voice the verifier is checked on.
Trained on espeak-ng alone (version `verifier-1`) the head learnt espeak-ng's sound: on flite's
voices it was right on 49-58 % of clips where the device's microWakeWord was right on 74-79 %,
so a cascade that verified with it lost accuracy on any voice unlike espeak-ng's
(docs/models.md).

Near misses are what a verifier is for, so besides the fixed list the training set speaks
*phoneme neighbours* of each wake phrase: its espeak-ng phonemes with one syllable-onset
consonant of the last word replaced by a similar one ("okay nabu" -> "okay nadu", "okay
mabu"; "alexa" -> "arexa") or a consonant appended ("alexat"), spoken as phoneme input
(`[[...]]`). openWakeWord's own training does the same with phoneme-level neighbours of the
wake word.

Deterministic: the same clips, initial weights and batches every time (`numpy` generators
keyed by fixed seeds; espeak-ng is deterministic), so every machine builds the same head up to
floating-point rounding.
"""

import dataclasses
import re
import subprocess
from functools import cache
from pathlib import Path

import numpy as np

from models.datasets import speech
from models.errors import CatalogueError, ModelFetchError
from models.files import write_atomic
from models.pipelines.openwakeword import EMB_FEATURES
from models.training import mlp
from models.training.onnx_export import export_onnx

MODEL_FILE = "model.onnx"
MODEL_ID = "wakeword-cloud"
EMBEDDER = "wakeword-full"
LABELS: tuple[str, ...] = tuple(speech.WAKE_PHRASES)
"""Output order after the `none` class: the catalogue's labels of `wakeword-cloud`."""
FEATURES = 3 * EMB_FEATURES  # mean, maximum and standard deviation over the clip
HIDDEN = 64
SHAPE = mlp.Shape(FEATURES, HIDDEN, 1 + len(LABELS))
CLIPS, EPOCHS, LR, SEED = 4000, 80, 0.05, 777
FLITE_SHARE = 0.25  # of the training clips, spoken by flite's training voices

HELD_OUT_VOICES = frozenset({"en-029", "flite:kal16"})
FLITE_TRAINING_VOICES = tuple(v for v in speech.FLITE_VOICES if v not in HELD_OUT_VOICES)
HELD_OUT_VARIANTS = frozenset({"+m7", "+f4"})
HELD_OUT_NEAR_MISSES = frozenset({"hey microsoft", "a lexus", "okay nana"})
SPEEDS_WPM = (140, 165, 190)
PITCHES = (38, 52, 68)

# consonant -> similar consonants, in espeak-ng's phoneme mnemonics
SIMILAR: dict[str, tuple[str, ...]] = {
    "b": ("d", "g", "m"),
    "d": ("b", "g"),
    "g": ("d", "b"),
    "k": ("t", "p"),
    "p": ("t", "k"),
    "t": ("k", "p"),
    "m": ("n", "b"),
    "n": ("m", "d"),
    "l": ("r", "n"),
    "r": ("l", "w"),
    "s": ("f", "S"),
    "h": ("f",),
}
CODAS = ("s", "t", "n")
"""Consonants appended to a phrase that ends in a vowel ("alexa" -> "alexat"). A neighbour
equal to a held-out near miss's phonemes ("a lexus") is left out: that phrase stays unheard."""
_ONSET = re.compile(r"([bdgkptmnlrsh])(?=['`,]?[aeiouAEIOUV0@3])")
"""A consonant followed (after an optional stress mark) by a vowel: a syllable's onset."""
_VOWEL_END = re.compile(r"[aeiouAEIOUV0@3]:?$")


@cache
def phonemes(phrase: str) -> str:
    """espeak-ng's phoneme mnemonics of `phrase` (e.g. "oUk'eI n'A:bu:")."""
    done = subprocess.run(
        [speech.espeak(), "-q", "-x", phrase], capture_output=True, check=True, text=True
    )
    return done.stdout.strip()


def phoneme_neighbours(phrase: str) -> list[str]:
    """`phrase` with one onset consonant replaced by a similar one, as espeak-ng phoneme
    input (`[[...]]`), in a fixed order."""
    spoken = phonemes(phrase)
    last_word = spoken.rfind(" ") + 1  # "okay" and "hey" start many phrases: keep them
    out = []
    for match in _ONSET.finditer(spoken, last_word):
        for other in SIMILAR[match.group(1)]:
            out.append(f"{spoken[: match.start()]}{other}{spoken[match.end() :]}")
    if _VOWEL_END.search(spoken):
        out += [spoken + coda for coda in CODAS]
    held_out = {phonemes(p).replace(" ", "") for p in HELD_OUT_NEAR_MISSES}
    return [f"[[{n}]]" for n in out if n.replace(" ", "") not in held_out]


def near_misses() -> list[str]:
    """The near-miss phrases training uses: the generator's, less the held-out ones, and the
    phoneme neighbours of every wake phrase."""
    fixed = [p for p in speech.NEAR_MISSES if p not in HELD_OUT_NEAR_MISSES]
    neighbours = [n for ps in speech.WAKE_PHRASES.values() for n in phoneme_neighbours(ps[0])]
    return fixed + neighbours


def training_specs(n: int = CLIPS, seed: int = SEED) -> list[speech.ClipSpec]:
    """`n` clip recipes: the generator's mix of wake phrases, near misses and sentences, with
    the held-out voices, variants, phrases, speeds and pitches replaced by training ones, and a
    `FLITE_SHARE` of them spoken by flite (which cannot speak phoneme input: its near misses
    are the generator's phrases)."""
    voices = [v for v in speech.VOICES if v not in HELD_OUT_VOICES]
    variants = [v for v in speech.VARIANTS if v not in HELD_OUT_VARIANTS]
    misses = near_misses()
    fixed_misses = [p for p in misses if not p.startswith("[[")]
    specs = []
    for i in range(n):
        spec = speech.clip_spec(i, seed=seed)
        rng = np.random.default_rng([seed, i, 1])
        voice = voices[int(rng.integers(len(voices)))] + variants[int(rng.integers(len(variants)))]
        phrase = spec.phrase
        if spec.kind == "near_miss":
            phrase = misses[int(rng.integers(len(misses)))]
        other = np.random.default_rng([seed, i, 2])
        if other.random() < FLITE_SHARE:
            voice = FLITE_TRAINING_VOICES[int(other.integers(len(FLITE_TRAINING_VOICES)))]
            if spec.kind == "near_miss":
                phrase = fixed_misses[int(other.integers(len(fixed_misses)))]
        specs.append(
            dataclasses.replace(
                spec,
                voice=voice,
                phrase=phrase,
                speed_wpm=int(rng.choice(SPEEDS_WPM)),
                pitch=int(rng.choice(PITCHES)),
            )
        )
    return specs


def class_of(label: str | None) -> int:
    """The head's output index of a clip's label (0: no wake phrase)."""
    return 0 if label is None else 1 + LABELS.index(label)


def train(features: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The head's flat parameters, with the features' standardisation folded into the first
    layer (the ONNX file takes raw features)."""
    mean, std = features.mean(0), features.std(0) + 1e-6
    start = mlp.init_params(SHAPE, 0)
    params = mlp.train(SHAPE, start, (features - mean) / std, classes, epochs=EPOCHS, lr=LR)
    w1, b1, _, _ = SHAPE.unflatten(params)
    b1 -= (mean / std) @ w1
    w1 /= std[:, None]
    return params


def build(directory: Path, model_dir: Path | None = None) -> Path:
    """The catalogue's builder of `wakeword-cloud`: speak the training clips, embed them with
    `wakeword-full`'s frozen models, train the head (about two minutes; once per model dir)."""
    path = directory / MODEL_FILE
    if path.is_file():
        return path
    from models.pipelines import load_pipeline
    from models.pipelines.openwakeword import OpenWakeWordPipeline
    from models.pipelines.verifier import clip_features

    embedder = load_pipeline(EMBEDDER, model_dir=model_dir)
    if not isinstance(embedder, OpenWakeWordPipeline):
        raise CatalogueError(f"{MODEL_ID}: {EMBEDDER} is not an openwakeword model")
    try:
        speech.espeak(), speech.flite()  # both speak training clips: say what is missing first
        specs = training_specs()
        clips = (speech.make_clip(s).samples() for s in specs)
        features = np.array([clip_features(embedder, c) for c in clips], np.float32)
    except (speech.SpeechUnavailableError, subprocess.CalledProcessError) as exc:
        raise ModelFetchError(f"cannot build {MODEL_ID}: no speech to train on: {exc}") from exc
    classes = np.array([class_of(s.label) for s in specs])
    write_atomic(path, export_onnx(SHAPE, train(features, classes), name=MODEL_ID))
    return path
