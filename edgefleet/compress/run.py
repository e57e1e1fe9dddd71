"""`edgefleet models compress MODEL`: an int8 version of a catalogue model, measured.

The result is a new catalogue model, `<id>-int8`, made on this machine: its files go to the
model directory like any model's, pinned by sha256 in the directory's `catalogue.local.json`
(models.catalogue.LOCAL_CATALOGUE), so an agent names it in `models:` like a packaged one.
Size, latency and accuracy are measured before and after on the model's representative data
set — the labelled generators the benchmarks use — and a model without one is refused.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgefleet.compress.flatbuffer import float_weights, to_float32
from edgefleet.compress.quantize import CompressError, dynamic_int8
from models.catalogue import LOCAL_CATALOGUE, Catalogue, ModelSpec, load_catalogue
from models.fetch import ensure_files, model_path
from models.files import default_model_dir, write_atomic
from models.pipelines import AnyPipeline, load_pipeline

SUFFIX = "-int8"
SEED = 1  # the representative sets' seed: not the seed-0 sets the benchmarks report on

Sample = tuple[bytes, Any]  # (payload, label)


@dataclass(frozen=True)
class Measured:
    bytes: int
    latency_ms_p50: float
    accuracy: float  # % (face-detection: IoU>=0.5 hits; wakeword: correct clips)


@dataclass(frozen=True)
class CompressReport:
    model: str
    compressed: str
    version: str
    metric: str
    samples: int
    float32_bytes: int
    before: Measured
    after: Measured

    @property
    def size_ratio(self) -> float:
        """int8 bytes over the float32 model's bytes."""
        return self.after.bytes / self.float32_bytes

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "size_ratio": self.size_ratio}


def _faces(n: int) -> tuple[str, list[Sample], Callable[[Any, Any], float]]:
    from edgefleet.bench.offload.scoring import match_faces
    from models.datasets.faces import generate

    samples = [(s.jpeg, [f.box for f in s.faces]) for s in generate(n, seed=SEED)]
    truth = sum(len(label) for _, label in samples)

    def hits(output: Any, label: Any) -> float:
        return 100.0 * match_faces(label, [f.box for f in output.faces])[0] / max(1, truth)

    return "face hits, IoU >= 0.5 (%)", samples, hits


def _speech(n: int) -> tuple[str, list[Sample], Callable[[Any, Any], float]]:
    from models.datasets.speech import generate

    samples = [(c.wav, c.is_wake) for c in generate(n, seed=SEED)]

    def correct(output: Any, label: Any) -> float:
        return 100.0 * float(bool(output.detected) == label) / len(samples)

    return "correct clips (%)", samples, correct


REPRESENTATIVE: dict[str, Callable[[int], tuple[str, list[Sample], Callable[[Any, Any], float]]]]
REPRESENTATIVE = {"face-detection": _faces, "wakeword": _speech}


def compressible(spec: ModelSpec) -> None:
    """Raise CompressError saying why `spec` cannot be compressed."""
    if spec.task not in REPRESENTATIVE:
        raise CompressError(
            f"no representative data set for {spec.task} models like {spec.id}: "
            f"compress knows {', '.join(sorted(REPRESENTATIVE))}"
        )
    if spec.runtime != "litert" or spec.source != "package":
        raise CompressError(f"{spec.id} is not a packaged LiteRT model ({spec.source})")
    if spec.input.dtype != "float32":
        raise CompressError(f"{spec.id} is already quantised ({spec.input.dtype} input)")


def compress(model_id: str, model_dir: Path | None = None, samples: int = 200) -> CompressReport:
    directory = model_dir or default_model_dir()
    catalogue = load_catalogue(model_dir=directory)
    spec = catalogue.get(model_id)
    compressible(spec)
    paths = ensure_files(spec, directory)
    files: dict[str, bytes] = {}
    float32_bytes = 0
    for f in spec.files:
        data = paths[f.name].read_bytes()
        if f.name.endswith(".tflite") and float_weights(data):
            data = to_float32(data)
            float32_bytes += len(data)
            data = dynamic_int8(data)
        files[f.name] = data
    if not float32_bytes:
        raise CompressError(f"{spec.id} has no float weights to quantise")
    new = _register(spec, files, directory)
    metric, data_set, score = REPRESENTATIVE[spec.task](samples)
    before = load_pipeline(spec.id, catalogue, directory)
    after = load_pipeline(new.id, load_catalogue(model_dir=directory), directory)
    measured = _measure([before, after], data_set, score)
    return CompressReport(
        spec.id,
        new.id,
        new.version,
        metric,
        len(data_set),
        float32_bytes,
        Measured(sum(p.stat().st_size for p in paths.values()), *measured[0]),
        Measured(sum(len(d) for d in files.values()), *measured[1]),
    )


def _register(spec: ModelSpec, files: dict[str, bytes], directory: Path) -> ModelSpec:
    """Write the files and the model's entry in the directory's local catalogue."""
    fields = spec.model_dump(exclude={"files", "source", "derived_from", "version", "id"})
    new = ModelSpec.model_validate(
        {
            **fields,
            "id": spec.id + SUFFIX,
            "version": spec.version + SUFFIX,
            "source": "local",
            "derived_from": spec.id,
            "description": f"{spec.description} — int8 weights (edgefleet models compress)",
            "licence": f"{spec.licence}; quantised here",
            "files": [
                {"name": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                for n, d in files.items()
            ],
        }
    )
    target = model_path(new, directory)
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        write_atomic(target / name, data)
    local = directory / LOCAL_CATALOGUE
    others = [m for m in _local_models(local) if m.id != new.id]
    entries = [m.model_dump(mode="json", exclude_defaults=True) for m in [*others, new]]
    write_atomic(local, json.dumps({"models": entries}, indent=2).encode())
    load_catalogue(model_dir=directory)  # the written catalogue validates
    return new


def _local_models(path: Path) -> list[ModelSpec]:
    if not path.is_file():
        return []
    return Catalogue.model_validate_json(path.read_bytes()).models


def _measure(
    pipelines: list[AnyPipeline], data_set: list[Sample], score: Callable[[Any, Any], float]
) -> list[tuple[float, float]]:
    """(latency p50 ms, accuracy) per pipeline; runs interleaved so load hits both alike."""
    times: list[list[float]] = [[] for _ in pipelines]
    accuracy = [0.0 for _ in pipelines]
    for payload, label in data_set:
        for i, pipeline in enumerate(pipelines):
            start = time.perf_counter()
            output = pipeline.run(payload)
            times[i].append((time.perf_counter() - start) * 1000)
            accuracy[i] += score(output, label)
    return [(statistics.median(t), a) for t, a in zip(times, accuracy, strict=True)]
