"""docs/hub-reference.md, generated from the code: every setting and every metric of the hub.

Settings come from `Settings.model_fields` (the class, never an instance: the environment and
its secrets play no part), their descriptions from the docstrings under each field in
`core/config.py` (read with `ast`: pydantic keeps them only with `use_attribute_docstrings`).
Metrics come from the collectors of a fresh `HubMetrics`. `edgefleet hub reference` writes the
file, `--check` compares it (tests/hub/test_reference.py does too), so the two cannot drift.
"""

import ast
import inspect
import itertools
import json
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase
from pydantic import SecretBytes, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo

from cloud_hub.core.config import Settings
from cloud_hub.core.metrics import HubMetrics

DEFAULT_OUT = Path("docs/hub-reference.md")
SECRET = "—"
"""What the default column shows for a secret (its default is never printed)."""
UNDOCUMENTED = "*(no docstring in `core/config.py`)*"

_CONSTRAINTS = (
    ("ge", "≥ {}"),
    ("gt", "> {}"),
    ("le", "≤ {}"),
    ("lt", "< {}"),
    ("multiple_of", "multiple of {}"),
    ("min_length", "length ≥ {}"),
    ("max_length", "length ≤ {}"),
    ("pattern", "matches `{}`"),
)
_EXPOSED_SUFFIX = {"counter": "_total", "info": "_info"}
_SERIES_NOTE = {
    "histogram": "(`_bucket`, `_sum`, `_count`)",
    "summary": "(`_sum`, `_count`)",
}


@dataclass(frozen=True)
class SettingRow:
    name: str
    variable: str
    type: str
    default: str
    constraints: str
    description: str
    secret: bool


@dataclass(frozen=True)
class MetricRow:
    name: str
    """The family name, as registered."""
    exposed: str
    """The name a query uses: counters end in `_total`, info metrics in `_info`."""
    type: str
    labels: tuple[str, ...]
    help: str


# ------------------------------------------------------------------------------- settings


def field_docstrings(cls: type) -> dict[str, str]:
    """Field name -> the string literal right under its declaration in `cls`'s source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef)).body
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _type_name(annotation: Any) -> str:
    if annotation is None or annotation is type(None):
        return "None"
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(map(_type_name, args))}]"
    return str(getattr(annotation, "__name__", annotation))


def _leaf_types(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _leaf_types(arg)


def is_secret(field: FieldInfo) -> bool:
    return any(t in (SecretStr, SecretBytes) for t in _leaf_types(field.annotation))


def _env_variable(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    if alias:  # pydantic-settings reads an aliased field under its alias, without the prefix
        return alias.upper()
    return f"{Settings.model_config.get('env_prefix', '')}{name.upper()}"


def _hint(name: str, value: Any) -> str:
    """A readable size for large second and byte defaults (`86400` -> 1 d)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return ""
    n = int(value)
    units = (
        [(86400, "d"), (3600, "h")]
        if name.endswith("_s")
        else [(1 << 20, "MiB"), (1 << 10, "KiB")]
        if name.endswith("_bytes")
        else []
    )
    for size, unit in units:
        if n >= size and n % size == 0:
            return f" ({n // size} {unit})"
    return ""


def _default(name: str, field: FieldInfo) -> str:
    """The default as one would write it in the variable (JSON for lists and objects)."""
    if is_secret(field):
        return SECRET
    if field.is_required():
        return "*(required)*"
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return "unset"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, str | Path | int | float):
        text = str(value)
    else:
        text = json.dumps(TypeAdapter[Any](Any).dump_python(value, mode="json"))
    return f"`{text}`{_hint(name, value)}" if text else '`""`'


def _constraints(field: FieldInfo) -> str:
    parts = [
        template.format(getattr(meta, attr))
        for meta in field.metadata
        for attr, template in _CONSTRAINTS
        if getattr(meta, attr, None) is not None
    ]
    enums = [
        t for t in _leaf_types(field.annotation) if isinstance(t, type) and issubclass(t, Enum)
    ]
    for enum in enums:
        parts.append("one of " + ", ".join(f"`{m.value}`" for m in enum))
    return ", ".join(parts)


def setting_rows() -> list[SettingRow]:
    docs = field_docstrings(Settings)
    rows = []
    for name, field in Settings.model_fields.items():
        description = field.description or docs.get(name, "")
        rows.append(
            SettingRow(
                name=name,
                variable=_env_variable(name, field),
                type=_type_name(field.annotation),
                default=_default(name, field),
                constraints=_constraints(field),
                description=" ".join(description.split()),
                secret=is_secret(field),
            )
        )
    return rows


# -------------------------------------------------------------------------------- metrics


def metric_rows(metrics: HubMetrics | None = None) -> list[MetricRow]:
    """One row per collector of `HubMetrics`, in declaration order."""
    metrics = metrics or HubMetrics()
    rows = []
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            rows.append(
                MetricRow(
                    name=family.name,
                    exposed=family.name + _EXPOSED_SUFFIX.get(family.type, ""),
                    type=family.type,
                    labels=tuple(value._labelnames),  # no public accessor; stable since 0.4
                    help=family.documentation,
                )
            )
    return rows


# ------------------------------------------------------------------------------- document


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else ""


def _settings_table(rows: list[SettingRow]) -> list[str]:
    lines = [
        "| variable | type | default | constraints | description |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = (
            f"`{r.variable}`",
            f"`{r.type}`",
            r.default,
            r.constraints,
            r.description or UNDOCUMENTED,
        )
        lines.append("| " + " | ".join(map(_cell, cells)) + " |")
    return lines


def _metrics_table(rows: list[MetricRow]) -> list[str]:
    lines = ["| metric | type | labels | help |", "|---|---|---|---|"]
    for r in rows:
        series = f"`{r.exposed}` {_SERIES_NOTE.get(r.type, '')}".rstrip()
        if r.labels:
            labels = ", ".join(f"`{label}`" for label in r.labels)
        elif r.type == "info":
            labels = "the keys of its value"
        else:
            labels = "—"
        lines.append("| " + " | ".join(map(_cell, (series, r.type, labels, r.help))) + " |")
    return lines


def generate() -> str:
    settings, metrics = setting_rows(), metric_rows()
    lines = [
        "<!-- Generated by `edgefleet hub reference` from cloud_hub/core/config.py and",
        "     cloud_hub/core/metrics.py; do not edit by hand. -->",
        "# Hub reference: settings and metrics",
        "",
        "Every setting and every metric of the hub, generated from the code "
        "(`edgefleet hub reference`; `--check` fails when this file is out of date). "
        "What they are for, and how they fit together: [hub.md](hub.md).",
        "",
        "## Settings",
        "",
        f"{len(settings)} settings (`Settings` in `cloud_hub/core/config.py`), each read from its "
        "environment variable (names compared case-blind; a variable the hub does not know "
        "is an error, [hub.md](hub.md#unknown-variables-are-an-error)). Defaults are written "
        "as the variable's value (lists and objects as JSON); a secret's default is never "
        f"shown ({SECRET}).",
        "",
        *_settings_table(settings),
        "",
        "## Metrics",
        "",
        f"{len(metrics)} metrics (`HubMetrics` in `cloud_hub/core/metrics.py`), each hub in its "
        "own registry, served at `GET /metrics` (viewer key). The first column is the name a "
        "query uses: counters end in `_total`, info metrics in `_info`, histograms export "
        "`_bucket`, `_sum` and `_count` (prometheus_client adds a `_created` series to counters "
        "and histograms). No metric has a device label ([hub.md](hub.md#observability)).",
        "",
        *_metrics_table(metrics),
    ]
    return "\n".join(lines) + "\n"


def is_up_to_date(path: Path) -> bool:
    return path.exists() and path.read_text(encoding="utf-8") == generate()
