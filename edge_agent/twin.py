"""The device twin on the agent: merge `twin/desired`, apply supported keys live, report.

Keys are flat and dotted (`health_interval_s`, `pipelines.<model>.min_score`,
`offload.<model>.mode`); a nested desired object is flattened first. Each key the agent can
change at run time is a `Knob`; any other key is reported as rejected, never fatal.

Version vectors (`contract.vector_clock`): the hub counts its edits under `hub`, the
device its local edits under its device id. A desired state whose vector dominates ours is
applied as is; one ours dominates is stale and ignored; a concurrent one is merged three-way
against the last desired we processed, and keys both sides changed to different values are
reported as conflicts (the hub's value is kept, the local one is named in the report).
"""

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from contract import ContractError, TwinDesired, TwinReported, decode
from contract.twin import SHARE_HARD_SAMPLES, TwinConflict, flatten_state
from contract.vector_clock import Order, compare, increment, merge
from models.files import write_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Knob:
    """One live setting: `parse` validates a value (ValueError/TypeError: rejected)."""

    parse: Callable[[Any], Any]
    apply: Callable[[Any], None]
    current: Callable[[], Any]


def three_way(
    base: Mapping[str, Any],
    local: Mapping[str, Any],
    desired: Mapping[str, Any],
    locally_changed: Iterable[str],
) -> tuple[dict[str, Any], list[TwinConflict]]:
    """Keys of `desired` to apply, and conflicts, for a desired state concurrent with ours.

    `base` is the last desired state we processed, `local` what runs now, `locally_changed`
    the keys edited on the device since. A key only the device changed keeps its local value;
    a key both changed to different values is a conflict resolved for the hub.
    """
    mine = set(locally_changed)
    apply: dict[str, Any] = {}
    conflicts: list[TwinConflict] = []
    for key, value in desired.items():
        hub_changed = key not in base or base[key] != value
        if key not in mine:
            apply[key] = value
        elif hub_changed and local.get(key) != value:
            apply[key] = value
            conflicts.append(TwinConflict(key=key, desired=value, local=local.get(key)))
    return apply, conflicts


@dataclass
class _Saved:
    version: dict[str, int] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    local_edits: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # what the twin set, re-applied on start


class DeviceTwin:
    """The agent's side of the twin; `path` keeps the vector across restarts."""

    def __init__(self, device: str, knobs: Mapping[str, Knob], path: Path | None = None) -> None:
        self.device = device
        self.knobs = dict(knobs)
        self.path = path
        self.rejected: dict[str, str] = {}
        self.conflicts: list[TwinConflict] = []
        self._saved = self._load()
        for key, value in self._saved.values.items():  # survive restarts: re-apply
            self._apply_one(key, value)

    @property
    def version(self) -> dict[str, int]:
        return dict(self._saved.version)

    def state(self) -> dict[str, Any]:
        return {key: knob.current() for key, knob in sorted(self.knobs.items())}

    def reported(self) -> TwinReported:
        return TwinReported(
            version=self.version,
            state=self.state(),
            rejected=self.rejected,
            conflicts=self.conflicts,
        )

    def set_local(self, key: str, value: Any) -> TwinReported:
        """A change made on the device itself (counted under the device's own entry)."""
        self._apply_one(key, value)
        if key not in self.rejected:
            self._saved.version = increment(self._saved.version, self.device)
            self._saved.values[key] = value
            self._saved.local_edits = sorted({*self._saved.local_edits, key})
            self._save()
        return self.reported()

    def on_desired(self, payload: bytes) -> TwinReported | None:
        """Process a `twin/desired` payload; the report to publish, None if malformed."""
        try:
            desired = decode(TwinDesired, payload) if payload else None
        except ContractError as exc:
            log.warning("ignoring a bad twin/desired: %s", exc)
            return None
        if desired is None:  # retained desired cleared (device deleted on the hub)
            return None
        wanted = flatten_state(desired.state)
        order = compare(desired.version, self._saved.version)
        if order in (Order.BEFORE, Order.EQUAL):  # nothing we have not seen
            return self.reported()
        self.rejected, self.conflicts = {}, []
        if order is Order.AFTER:  # the hub saw all our edits: its word stands
            apply = wanted
        else:
            apply, self.conflicts = three_way(
                self._saved.base, self.state(), wanted, self._saved.local_edits
            )
            for conflict in self.conflicts:
                log.warning(
                    "twin conflict on %s: desired %r, local %r; keeping desired",
                    conflict.key,
                    conflict.desired,
                    conflict.local,
                )
        for key, value in apply.items():
            self._apply_one(key, value)
        applied = {k: v for k, v in apply.items() if k not in self.rejected}
        self._saved = _Saved(
            merge(self._saved.version, desired.version),
            wanted,
            [k for k in self._saved.local_edits if k not in apply],
            {**self._saved.values, **applied},
        )
        self._save()
        return self.reported()

    def _apply_one(self, key: str, value: Any) -> None:
        knob = self.knobs.get(key)
        if knob is None:
            self.rejected[key] = f"unknown key; supported: {', '.join(sorted(self.knobs))}"
            return
        try:
            parsed = knob.parse(value)
            knob.apply(parsed)
        except (TypeError, ValueError) as exc:
            self.rejected[key] = f"invalid value {value!r}: {exc}"
            return
        self.rejected.pop(key, None)

    def _load(self) -> _Saved:
        if self.path is None or not self.path.exists():
            return _Saved()
        try:
            data = json.loads(self.path.read_text())
            return _Saved(
                dict(data["version"]),
                dict(data["base"]),
                list(data["local_edits"]),
                dict(data.get("values", {})),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("twin state %s unreadable, starting afresh: %s", self.path, exc)
            return _Saved()

    def _save(self) -> None:
        if self.path is None:
            return
        s = self._saved
        write_atomic(
            self.path,
            json.dumps(
                {
                    "version": s.version,
                    "base": s.base,
                    "local_edits": s.local_edits,
                    "values": s.values,
                }
            ),
        )


# --- knobs the agent offers -------------------------------------------------------------------


def positive_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError("must be a number > 0")
    return float(value)


def unit_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError("must be a number in [0, 1]")
    return float(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return str(value)

    return parse


def attribute_knob(targets: list[Any], name: str, parse: Callable[[Any], Any]) -> Knob:
    """A knob setting attribute `name` on every object of `targets` (e.g. pipeline copies)."""

    def apply(value: Any) -> None:
        for target in targets:
            setattr(target, name, value)

    return Knob(parse, apply, lambda: getattr(targets[0], name))


class _Interval(Protocol):
    interval_s: float


class _Plans(Protocol):
    plans: dict[str, Any]
    share_hard: bool


# pipeline attributes a desired state may set; the agent's pipelines are SwappablePipeline
# slots (edge_agent.model_sync), which must expose each of them (SwappablePipeline.TUNABLE)
PIPELINE_KNOBS = ("min_score",)
OFFLOAD_MODES = ("edge", "cloud", "adaptive", "cascade")


def agent_knobs(
    health: _Interval, pipelines: Mapping[str, list[Any]], dispatch: _Plans | None
) -> dict[str, Knob]:
    """The keys this agent applies live: heartbeat period, per-pipeline thresholds (of the
    models that have them: `hasattr` on the pipeline, or on the slot wrapping it), and the
    offload mode of pipelines configured for offload (the cloud client exists only then)."""

    def set_interval(value: float) -> None:
        health.interval_s = value

    knobs = {"health_interval_s": Knob(positive_float, set_interval, lambda: health.interval_s)}
    for model, copies in pipelines.items():
        for name in PIPELINE_KNOBS:
            if copies and hasattr(copies[0], name):
                knobs[f"pipelines.{model}.{name}"] = attribute_knob(copies, name, unit_float)
    if dispatch is not None:
        for model in dispatch.plans:
            knobs[f"offload.{model}.mode"] = _mode_knob(dispatch, model)
        knobs[SHARE_HARD_SAMPLES] = attribute_knob([dispatch], "share_hard", boolean)
    return knobs


def _mode_knob(dispatch: _Plans, model: str) -> Knob:
    def apply(value: str) -> None:
        from edge_agent.offload import Mode

        dispatch.plans[model] = replace(dispatch.plans[model], mode=Mode(value))

    return Knob(choice(*OFFLOAD_MODES), apply, lambda: str(dispatch.plans[model].mode))
