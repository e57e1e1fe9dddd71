"""Doubt heads: a light model's own estimate of how likely the hub's model answers better.

A cascade asks the hub about the answers its device is unsure of. A light model's score is a
weak signal of that (a face it missed leaves no face to be unsure about; an engine reading it
gets wrong can still look confident), so a light model may ship with a *doubt head*: a small
MLP (`models.training.mlp`) over what the model computed anyway, whose output is the result's
`doubt` (0-1); the cascade reads `1 - doubt` as the answer's confidence (docs/offload.md). It
is trained here on generated data whose right answers are known, each example labelled by
whether the hub's model answered it better than the device's: the cloud teaching the device
when to ask.

A head belongs to one version of one model: its file (models/heads/, named by the catalogue's
`doubt_head`) records both. Training: `doubt_build.py`; per task `face_doubt.py`,
`engine_doubt.py`, `wake_doubt.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.training.mlp import Shape

HEADS_DIR = Path(__file__).resolve().parent.parent / "heads"


@dataclass(frozen=True)
class DoubtHead:
    """Input scaling and MLP parameters, for one model version."""

    model: str
    version: str
    shape: Shape
    mean: np.ndarray
    scale: np.ndarray
    params: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def doubts(self, features: np.ndarray) -> np.ndarray:
        """P(the hub's model answers better) per row of `features`."""
        from models.training import mlp

        x = ((np.atleast_2d(features) - self.mean) / self.scale).astype(np.float32)
        return np.asarray(mlp.predict_proba(self.shape, self.params, x)[:, 1])

    def doubt(self, features: np.ndarray) -> float:
        return float(self.doubts(features)[0])

    def save(self, path: Path) -> None:
        data = {
            "model": self.model,
            "version": self.version,
            "shape": [self.shape.inputs, self.shape.hidden, self.shape.outputs],
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "params": self.params.tolist(),
            "meta": self.meta,
        }
        path.write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> DoubtHead:
        data = json.loads(path.read_text())
        shape = Shape(*data["shape"])
        head = cls(
            data["model"],
            data["version"],
            shape,
            np.asarray(data["mean"], np.float32),
            np.asarray(data["scale"], np.float32),
            np.asarray(data["params"], np.float32),
            data.get("meta", {}),
        )
        if head.params.shape != (shape.size,) or head.mean.shape != (shape.inputs,):
            raise ValueError(f"{path}: parameters do not fit the shape {data['shape']}")
        return head


def load_head(model: str, version: str, name: str) -> DoubtHead:
    """The head file `name` in HEADS_DIR, checked against the model it is loaded for; raises
    CatalogueError (with what to do) otherwise."""
    from models.errors import CatalogueError

    path = HEADS_DIR / name
    try:
        head = DoubtHead.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogueError(f"model {model}: doubt head {path}: {exc}") from exc
    if (head.model, head.version) != (model, version):
        raise CatalogueError(
            f"model {model}: doubt head {path.name} was trained for {head.model} "
            f"{head.version}, not {model} {version}; rebuild it (models/training/doubt.py)"
        )
    return head
