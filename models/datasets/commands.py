"""Spoken commands with their intents: the labelled set `edgefleet bench intent` scores.

Each clip speaks one command of the fleet's vocabulary (models/processing/commands.py) in one
phrasing, voice, speed and pitch, mixed with noise like the wake-word clips
(models/datasets/speech.py). The splits keep apart what was looked at while the grammar and the
recogniser's settings were chosen and what was not:

- `tuning`: the tuning phrasings in the tuning voices;
- `voices`: the same phrasings in espeak-ng voices and variants not used for tuning;
- `phrasings`: phrasings never used for tuning (the grammar's rules allow them) in the tuning
  voices;
- `held_out`: held-out phrasings in held-out voices;
- `flite`: the tuning phrasings spoken by flite's recorded voices, another synthesiser;
- `not_commands`: ordinary sentences that are no command, in all espeak-ng voices: the right
  answer is "not understood".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.datasets.speech import (
    FLITE_VOICES,
    NOISES,
    PITCHES,
    SENTENCES,
    SPEEDS_WPM,
    ClipSpec,
    SpeechClip,
    make_clip,
)
from models.processing.commands import DEFAULT_COMMANDS, Intent

TUNING_PHRASINGS = (
    "turn {action} the {area} {target}",
    "turn the {area} {target} {action}",
    "switch {action} the {target} in the {area}",
    "turn the {target} in the {area} {action}",
)
HELD_OUT_PHRASINGS = (
    "please switch the {area} {target} {action}",
    "{area} {target} {action}",
    "please turn {action} the {target} in the {area}",
)
TUNING_VOICES = tuple(
    v + k for v in ("en-us", "en-gb", "en-gb-scotland") for k in ("", "+f3", "+m3")
)
HELD_OUT_VOICES = tuple(
    v + k for v in ("en-029", "en-gb-x-rp", "en-gb-x-gbclan") for k in ("+f5", "+m4", "+klatt2")
)
NOT_COMMANDS = tuple(s for s in SENTENCES if not DEFAULT_COMMANDS.parse(s).understood)
SPLITS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tuning": (TUNING_PHRASINGS, TUNING_VOICES),
    "voices": (TUNING_PHRASINGS, HELD_OUT_VOICES),
    "phrasings": (HELD_OUT_PHRASINGS, TUNING_VOICES),
    "held_out": (HELD_OUT_PHRASINGS, HELD_OUT_VOICES),
    "flite": (TUNING_PHRASINGS, FLITE_VOICES),
    "not_commands": (NOT_COMMANDS, TUNING_VOICES + HELD_OUT_VOICES),
}
SNRS_DB: tuple[float | None, ...] = (None, 20.0, 10.0)


@dataclass(frozen=True)
class CommandClip:
    """A spoken command and the intent it states."""

    clip: SpeechClip
    split: str
    truth: Intent

    @property
    def wav(self) -> bytes:
        return self.clip.wav


def command_spec(index: int, split: str, seed: int = 0) -> tuple[ClipSpec, Intent]:
    """The (random but seeded) recipe of clip `index` of `split`, and its intent."""
    phrasings, voices = SPLITS[split]
    commands = DEFAULT_COMMANDS
    rng = np.random.default_rng([seed, index, list(SPLITS).index(split)])

    def pick(options: tuple[str, ...] | list[str]) -> str:
        return options[int(rng.integers(len(options)))]

    intent, target, area = (
        pick(list(commands.actions)),
        pick(list(commands.targets)),
        pick(list(commands.areas)),
    )
    phrase = pick(phrasings).format(action=commands.actions[intent][0], target=target, area=area)
    spec = ClipSpec(
        index=index,
        phrase=phrase,
        label=None,
        kind="command",
        voice=pick(voices),
        speed_wpm=int(rng.choice(SPEEDS_WPM)),
        pitch=int(rng.choice(PITCHES)),
        snr_db=SNRS_DB[int(rng.integers(len(SNRS_DB)))],
        noise=pick(NOISES),
        lead_s=round(float(rng.uniform(0.15, 0.4)), 3),
        min_duration_s=1.0,
        gain_db=round(float(rng.uniform(-6.0, 6.0)), 2),
        noise_seed=int(rng.integers(2**31)),
    )
    if split == "not_commands":
        return spec, Intent(None, None, None)
    return spec, Intent(intent, target, area)


def generate_commands(n: int, split: str, seed: int = 0) -> list[CommandClip]:
    """`n` clips of `split` (espeak-ng and flite utterances are cached, the clips are not)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    out = []
    for i in range(n):
        spec, truth = command_spec(i, split, seed)
        out.append(CommandClip(make_clip(spec), split, truth))
    return out
