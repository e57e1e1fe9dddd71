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
# The hub's model (`engine-fault-cloud`): 4x wider, trained on the readings of 40 engines (the
# fleet's history a hub holds), so a device's unsure readings have someone better to ask.
CLOUD_SHAPE = mlp.Shape(data.N_FEATURES, 128, data.N_CLASSES)
CLOUD_ENGINES, CLOUD_READINGS, CLOUD_EPOCHS = 40, 1000, 20


def seed_params(seed: int = 0) -> np.ndarray:
    """The factory version: a short training run on a few engines' data, deterministic."""
    engines = data.fleet(SEED_ENGINES, seed=10_000 + seed, n=300)
    x = np.concatenate([e.x for e in engines])
    y = np.concatenate([e.y for e in engines])
    return mlp.train(SHAPE, mlp.init_params(SHAPE, seed), x, y, epochs=3, lr=0.1, seed=seed)


def build_seed(directory: Path, model_dir: Path | None = None) -> Path:
    """The catalogue's builder: write the seed model into `directory` unless it is there."""
    path = directory / MODEL_FILE
    if not path.is_file():
        write_atomic(path, export_onnx(SHAPE, seed_params()))
    return path


def cloud_params(seed: int = 0) -> np.ndarray:
    """The hub's version: the wider MLP on many engines' readings, deterministic."""
    engines = data.fleet(CLOUD_ENGINES, seed=20_000 + seed, n=CLOUD_READINGS)
    x = np.concatenate([e.x for e in engines])
    y = np.concatenate([e.y for e in engines])
    start = mlp.init_params(CLOUD_SHAPE, seed)
    return mlp.train(CLOUD_SHAPE, start, x, y, epochs=CLOUD_EPOCHS, lr=0.1, seed=seed)


def build_cloud(directory: Path, model_dir: Path | None = None) -> Path:
    """The catalogue's builder of `engine-fault-cloud` (a few seconds, once per model dir)."""
    path = directory / MODEL_FILE
    if not path.is_file():
        write_atomic(path, export_onnx(CLOUD_SHAPE, cloud_params(), name="engine-fault-cloud"))
    return path
