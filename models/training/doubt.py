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
`doubt_head`) records both. Per task: `face_doubt.py`, `engine_doubt.py`, `wake_doubt.py`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.training.mlp import Shape

HEADS_DIR = Path(__file__).resolve().parent.parent / "heads"
SHARES = (20, 25, 30, 35, 40)  # % of inputs asked about, for the cuts recorded in `meta`


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


def fit(
    model: str, version: str, x: np.ndarray, y: np.ndarray, hidden: int, epochs: int, lr: float
) -> DoubtHead:
    """A head trained on features `x` and labels `y` (1: the hub answered better)."""
    from models.training import mlp

    shape = Shape(x.shape[1], hidden, 2)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    scaled = ((x - mean) / scale).astype(np.float32)
    params = mlp.train(shape, mlp.init_params(shape, 0), scaled, y, epochs=epochs, lr=lr)
    return DoubtHead(model, version, shape, mean.astype(np.float32), scale.astype(np.float32),
                     params)  # fmt: skip


def cuts(doubts: np.ndarray) -> dict[str, float]:
    """The doubt above which each share (%) of these inputs would be asked about."""
    return {f"{p}": float(np.quantile(doubts, 1 - p / 100)) for p in SHARES}


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


# (device pipeline, hub pipeline, seed, n) -> features (n, k), labels (n,) 1: the hub did better
Examples = Callable[[Any, Any, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Recipe:
    """How a head is trained: the MLP, and the generated data of training and validation."""

    hidden: int
    epochs: int
    lr: float
    train: tuple[int, int]  # (seed, n)
    validation: tuple[int, int]


def build(device: Any, cloud: Any, examples: Examples, recipe: Recipe) -> DoubtHead:
    """Train the head of the `device` pipeline (its model's catalogue version) against the
    `cloud` pipeline; `meta` records the data and the doubt cuts at which shares of the
    validation set would be asked about. (The caller loads both: this module is imported by
    every pipeline and must not import them.)"""
    x, y = examples(device, cloud, *recipe.train)
    head = fit(device.model_id, device.version, x, y, recipe.hidden, recipe.epochs, recipe.lr)
    vx, vy = examples(device, cloud, *recipe.validation)
    meta = {
        "teacher": cloud.model_id,
        "train": {"seed": recipe.train[0], "examples": len(y), "positive": float(y.mean())},
        "validation": {
            "seed": recipe.validation[0],
            "examples": len(vy),
            "positive": float(vy.mean()),
            "doubt_at_share": cuts(head.doubts(vx)),
        },
    }
    return dataclasses.replace(head, meta=meta)


def write(head: DoubtHead) -> Path:
    """Save `head` where the catalogue finds it (`<model>-doubt.json`) and say so."""
    out = HEADS_DIR / f"{head.model}-doubt.json"
    head.save(out)
    print(f"wrote {out}: {json.dumps(head.meta)}")
    return out
