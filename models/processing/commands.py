"""The voice commands the fleet knows: their words, the grammar a recogniser decodes, and how
a transcript becomes an intent.

A small grammar is what makes a general recogniser usable on short commands: it may only
choose among sentences the fleet can act on, instead of among all English. The grammar is
built from the vocabulary by rules (an optional "please"; "turn" or "switch", the action before
"the" or at the end; the area, if any, before the device or after "in the"; or just "<area>
<device> <action>"), not from a list of sentences, so a phrasing nobody wrote down is understood
as long as it follows the rules (docs/voice-commands.md). Looser rules (optional "turn" and
"the") were tried and let the recogniser drop words it heard: fewer commands right.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from contract.outputs import IntentOutput

Words = dict[str, tuple[str, ...]]
"""canonical name -> the spoken forms that mean it, e.g. "television": ("television", "tv")."""


@dataclass(frozen=True)
class Intent:
    """What a transcript asks for; `intent` is None when the transcript names no action."""

    intent: str | None
    target: str | None
    area: str | None

    @property
    def understood(self) -> bool:
        """An action and a device: enough to act on (the area is optional)."""
        return self.intent is not None and self.target is not None


@dataclass(frozen=True)
class CommandSet:
    """The vocabulary of the fleet's commands."""

    actions: Words = field(default_factory=lambda: {"turn_on": ("on",), "turn_off": ("off",)})
    targets: Words = field(
        default_factory=lambda: {
            "light": ("light", "lights", "lamp"),
            "fan": ("fan",),
            "television": ("television", "tv"),
            "heater": ("heater", "heating"),
        }
    )
    areas: Words = field(
        default_factory=lambda: {
            "kitchen": ("kitchen",),
            "bedroom": ("bedroom",),
            "living room": ("living room", "lounge"),
            "garage": ("garage",),
            "bathroom": ("bathroom",),
            "office": ("office",),
        }
    )

    def spoken_forms(self) -> list[str]:
        """Every spoken form of a device, an area and an action, in that order."""
        return [*_forms(self.targets), *_forms(self.areas), *_forms(self.actions)]

    def words(self) -> set[str]:
        """Every word the grammar can produce (the recogniser needs each in its dictionary)."""
        return {w for s in self.spoken_forms() for w in s.split()} | set(_GLUE)

    def jsgf(self) -> str:
        """The JSGF grammar of every command this set accepts."""
        return "\n".join(
            [
                "#JSGF V1.0;",
                "grammar commands;",
                "public <command> = [please] ( <verb> <action> the [<area>] <target> [<where>]"
                " | <verb> the [<area>] <target> [<where>] <action>"
                " | <area> <target> <action> );",
                "<verb> = turn | switch;",
                "<where> = in the <area>;",
                f"<action> = {_alternatives(self.actions)};",
                f"<target> = {_alternatives(self.targets)};",
                f"<area> = {_alternatives(self.areas)};",
            ]
        )

    def sentences(self) -> Iterator[str]:
        """Every sentence `jsgf()` accepts, spelled out, for a recogniser that is constrained
        by a list rather than a grammar (models/pipelines/whisper_intent.py). The same rules:
        a test checks that each sentence is understood and each phrasing of the data set is
        among them."""
        areas, where = ["", *_forms(self.areas)], ["", *(f"in the {a}" for a in _forms(self.areas))]
        for please, verb, action, area, target, place in itertools.product(
            ("", "please"), ("turn", "switch"), _forms(self.actions), areas, _forms(self.targets),
            where,
        ):  # fmt: skip
            yield _join(please, verb, action, "the", area, target, place)
            yield _join(please, verb, "the", area, target, place, action)
        for please, area, target, action in itertools.product(
            ("", "please"), _forms(self.areas), _forms(self.targets), _forms(self.actions)
        ):
            yield _join(please, area, target, action)

    def parse(self, text: str) -> Intent:
        """The intent a transcript states: the first action, device and area words in it."""
        words = " " + " ".join(re.findall(r"[a-z]+", text.lower())) + " "
        return Intent(
            intent=_first(self.actions, words),
            target=_first(self.targets, words),
            area=_first(self.areas, words),
        )


_GLUE = ("please", "turn", "switch", "the", "in")


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _forms(words: Words) -> list[str]:
    return [form for forms in words.values() for form in forms]


def _alternatives(words: Words) -> str:
    return " | ".join(_forms(words))


def _first(words: Words, padded: str) -> str | None:
    """The canonical name whose spoken form occurs first in `padded` (" word word ")."""
    hits = [
        (at, name)
        for name, forms in words.items()
        for form in forms
        if (at := padded.find(f" {form} ")) >= 0
    ]
    return min(hits)[1] if hits else None


DEFAULT_COMMANDS = CommandSet()


class Transcript(NamedTuple):
    """What a recogniser heard: the text and how well it fits the sound (higher is better;
    None: nothing recognised)."""

    text: str
    score: float | None


def intent_output(
    commands: CommandSet, heard: Transcript, min_score: float, duration_s: float
) -> IntentOutput:
    """The answer of every intent model: the transcript's intent, understood only when it
    names an action and a device and scored at least `min_score`."""
    intent = commands.parse(heard.text)
    fits = heard.score is not None and heard.score >= min_score
    return IntentOutput(
        understood=intent.understood and fits,
        intent=intent.intent,
        target=intent.target,
        area=intent.area,
        text=heard.text,
        score=heard.score,
        duration_s=duration_s,
    )
