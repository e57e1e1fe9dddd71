"""The `engine-fault` model: its shape, the seed version built here, and its file."""

from pathlib import Path

import numpy as np

from models.datasets import engine as data
from models.files import write_atomic
from models.training import mlp
from models.training.onnx_export import export_onnx

SHAPE = mlp.Shape(data.N_FEATURES, 32, data.N_CLASSES)
MODEL_FILE = "model.onnx"
SEED_ENGINES = 3  # the factory model sees only a few engines: federated rounds improve it


def seed_params(seed: int = 0) -> np.ndarray:
    """The factory version: a short training run on a few engines' data, deterministic."""
    engines = data.fleet(SEED_ENGINES, seed=10_000 + seed, n=300)
    x = np.concatenate([e.x for e in engines])
    y = np.concatenate([e.y for e in engines])
    return mlp.train(SHAPE, mlp.init_params(SHAPE, seed), x, y, epochs=3, lr=0.1, seed=seed)


def build_seed(directory: Path) -> Path:
    """The catalogue's builder: write the seed model into `directory` unless it is there."""
    path = directory / MODEL_FILE
    if not path.is_file():
        write_atomic(path, export_onnx(SHAPE, seed_params()))
    return path
