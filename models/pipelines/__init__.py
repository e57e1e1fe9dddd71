"""Pipelines, one file per model family; `load_pipeline` builds one from the catalogue."""

import importlib
from pathlib import Path
from typing import Any

from models.catalogue import Catalogue, load_catalogue
from models.errors import CatalogueError
from models.fetch import built_file, verified_files
from models.pipelines.base import Pipeline

__all__ = ["PIPELINES", "AnyPipeline", "Pipeline", "load_pipeline"]

AnyPipeline = Pipeline[Any, Any, Any, Any]

# catalogue `pipeline` name -> "module:class", imported only when used
PIPELINES: dict[str, str] = {
    "blazeface": "models.pipelines.face:FaceDetectionPipeline",
    "face-ensemble": "models.pipelines.face_ensemble:FaceEnsemblePipeline",
    "microwakeword": "models.pipelines.wakeword:MicroWakeWordPipeline",
    "openwakeword": "models.pipelines.openwakeword:OpenWakeWordPipeline",
    "wake-verifier": "models.pipelines.verifier:WakeVerifierPipeline",
    "tabular": "models.pipelines.tabular:TabularPipeline",
    "speech-intent": "models.pipelines.speech_intent:SpeechIntentPipeline",
    "whisper-intent": "models.pipelines.whisper_intent:WhisperIntentPipeline",
}


def load_pipeline(
    model_id: str,
    catalogue: Catalogue | None = None,
    model_dir: Path | None = None,
    num_threads: int = 1,
) -> AnyPipeline:
    """Load a catalogue model from the model directory (sha256-verified; never downloads)."""
    catalogue = catalogue or load_catalogue(model_dir=model_dir)
    spec = catalogue.get(model_id)
    target = PIPELINES.get(spec.pipeline)
    if target is None:
        raise CatalogueError(f"model {model_id}: unknown pipeline {spec.pipeline!r}")
    paths = verified_files(spec, model_dir)
    if spec.source == "built":  # trained here: build the seed version on first use
        built = built_file(spec, model_dir)
        paths = {built.name: built}
    extra: dict[str, Any] = {}
    if spec.members:  # an ensemble runs other catalogue models
        extra["members"] = {
            m: load_pipeline(m, catalogue, model_dir, num_threads) for m in spec.members
        }
    module_name, class_name = target.split(":")
    cls: type[AnyPipeline] = getattr(importlib.import_module(module_name), class_name)
    return cls(spec, paths, num_threads=num_threads, **extra)
