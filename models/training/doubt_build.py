"""Training doubt heads (models/training/doubt.py): the recipe, the fit, the file.

Kept apart from `doubt.py`, which every pipeline imports at run time: building a head loads
pipelines, and the run-time module must not import them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.training.doubt import HEADS_DIR, DoubtHead
from models.training.mlp import Shape

SHARES = (20, 25, 30, 35, 40)  # % of inputs asked about, for the cuts recorded in `meta`


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


# (device pipeline, hub pipeline, seed, n) -> features (n, k), labels (n,) 1: the hub did better
Examples = Callable[[Any, Any, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Recipe:
    """How a head is trained: for which model against which hub model, the MLP, and the
    generated data of training and validation."""

    model: str
    cloud_model: str
    hidden: int
    epochs: int
    lr: float
    train: tuple[int, int]  # (seed, n)
    validation: tuple[int, int]


def build(recipe: Recipe, examples: Examples) -> DoubtHead:
    """Train `recipe.model`'s head (its catalogue version) against `recipe.cloud_model`;
    `meta` records the data and the doubt cuts at which shares of the validation set would be
    asked about."""
    from models.pipelines import load_pipeline

    device, cloud = load_pipeline(recipe.model), load_pipeline(recipe.cloud_model)
    x, y = examples(device, cloud, *recipe.train)
    head = fit(device.model_id, device.version, x, y, recipe.hidden, recipe.epochs, recipe.lr)
    vx, vy = examples(device, cloud, *recipe.validation)
    meta = {
        "teacher": recipe.cloud_model,
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
