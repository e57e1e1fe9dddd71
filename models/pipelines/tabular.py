"""Tabular classification (the `engine-fault` model) as a Pipeline: JSON reading -> label.

Input: one JSON object with the engine readings (docs/federated.md) and `operating_mode`; output
`TabularOutput` (label, label name, class probabilities). A built model without files (the
catalogue's `source = "built"`) is built into the model directory on first load; the model
registry (`edge_agent.model_sync`) later hands newer versions in with `from_file`.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contract import ErrorCode
from contract.outputs import TabularOutput
from models.catalogue import ModelSpec
from models.datasets.engine import parse_reading, to_features
from models.errors import InputError
from models.fetch import built_file
from models.pipelines.base import Pipeline
from models.runtimes import load_runtime


class TabularPipeline(Pipeline[dict[str, Any], np.ndarray, np.ndarray, TabularOutput]):
    """JSON engine reading -> fault class with probabilities."""

    def __init__(self, spec: ModelSpec, paths: dict[str, Path], num_threads: int = 1) -> None:
        super().__init__(spec, paths, num_threads)
        path = next(iter(paths.values())) if paths else built_file(spec)
        self.runtime = load_runtime(path, num_threads=num_threads)
        self.size_bytes = path.stat().st_size
        self.labels = list(spec.labels)

    @classmethod
    def from_file(cls, spec: ModelSpec, path: Path, version: str) -> "TabularPipeline":
        """A registry version of the model (already verified by the caller)."""
        pipeline = cls(spec, {path.name: path})
        pipeline.version = version
        return pipeline

    def decode(self, payload: bytes) -> dict[str, Any]:
        try:
            return parse_reading(payload)
        except ValueError as exc:
            raise InputError(ErrorCode.BAD_JSON, str(exc)) from None

    def preprocess(self, decoded: dict[str, Any]) -> np.ndarray:
        return to_features([decoded])

    def infer(self, inputs: np.ndarray) -> np.ndarray:
        return self.runtime.invoke(inputs)[0]

    def run_batch(self, payloads: Sequence[bytes]) -> list[TabularOutput | Exception]:
        """Readings of a batch through one invoke (the graph takes N rows); a bad reading gets
        its own error and does not fail the others."""
        decoded: list[dict[str, Any] | Exception] = []
        for payload in payloads:
            try:
                decoded.append(self.decode(payload))
            except InputError as exc:
                decoded.append(exc)
        good = [d for d in decoded if not isinstance(d, Exception)]
        rows = iter(self.infer(to_features(good)) if good else [])
        return [
            d if isinstance(d, Exception) else self.postprocess(next(rows)[None], d)
            for d in decoded
        ]

    def postprocess(self, raw: np.ndarray, decoded: dict[str, Any]) -> TabularOutput:
        probs = [float(p) for p in raw[0]]
        label = int(np.argmax(raw[0]))
        name = self.labels[label] if label < len(self.labels) else None
        return TabularOutput(
            label=label, label_name=name, probabilities=probs, doubt=self._doubt(raw, decoded)
        )

    def _doubt(self, raw: np.ndarray, decoded: dict[str, Any]) -> float | None:
        """The doubt head's estimate, for the version it was trained for only: a registry
        version (a federated round's) answers without one."""
        head = self.serving_head
        if head is None:
            return None
        from models.training.engine_doubt import doubt_features

        return head.doubt(doubt_features(raw, to_features([decoded])))
