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

import re
from dataclasses import dataclass, field

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

    def words(self) -> set[str]:
        """Every word the grammar can produce (the recogniser needs each in its dictionary)."""
        spoken = [*_forms(self.actions), *_forms(self.targets), *_forms(self.areas)]
        return {w for s in spoken for w in s.split()} | set(_GLUE)

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

    def parse(self, text: str) -> Intent:
        """The intent a transcript states: the first action, device and area words in it."""
        words = " " + " ".join(re.findall(r"[a-z]+", text.lower())) + " "
        return Intent(
            intent=_first(self.actions, words),
            target=_first(self.targets, words),
            area=_first(self.areas, words),
        )


_GLUE = ("please", "turn", "switch", "the", "in")


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
