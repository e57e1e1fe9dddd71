"""A one-hidden-layer MLP (ReLU, softmax) in numpy, with its parameters as one flat vector.

The flat float32 vector is what federated rounds move around: layout W1 (in x hidden), b1,
W2 (hidden x out), b2, row-major.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Shape:
    """Layer sizes of the MLP."""

    inputs: int
    hidden: int
    outputs: int

    @property
    def size(self) -> int:
        return self.inputs * self.hidden + self.hidden + self.hidden * self.outputs + self.outputs

    def unflatten(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Views of W1, b1, W2, b2 inside `flat` (writes go through)."""
        if flat.shape != (self.size,):
            raise ValueError(f"expected {self.size} parameters, got shape {flat.shape}")
        i, h, o = self.inputs, self.hidden, self.outputs
        a, b, c = i * h, i * h + h, i * h + h + h * o
        return flat[:a].reshape(i, h), flat[a:b], flat[b:c].reshape(h, o), flat[c:]


def init_params(shape: Shape, seed: int = 0) -> np.ndarray:
    """He-initialised weights, zero biases, float32."""
    rng = np.random.default_rng(seed)
    flat = np.zeros(shape.size, dtype=np.float32)
    w1, _, w2, _ = shape.unflatten(flat)
    w1[:] = rng.normal(0, np.sqrt(2 / shape.inputs), w1.shape)
    w2[:] = rng.normal(0, np.sqrt(2 / shape.hidden), w2.shape)
    return flat


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def predict_proba(shape: Shape, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = shape.unflatten(params)
    return _softmax(np.maximum(x @ w1 + b1, 0.0) @ w2 + b2)


def accuracy(shape: Shape, params: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict_proba(shape, params, x).argmax(axis=1) == y).mean())


def loss(shape: Shape, params: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    p = predict_proba(shape, params, x)
    return float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())


def _gradient(shape: Shape, params: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = shape.unflatten(params)
    hidden = np.maximum(x @ w1 + b1, 0.0)
    d_out = _softmax(hidden @ w2 + b2)
    d_out[np.arange(len(y)), y] -= 1.0
    d_out /= len(y)
    d_hidden = (d_out @ w2.T) * (hidden > 0)
    grad = np.empty_like(params)
    g1, gb1, g2, gb2 = shape.unflatten(grad)
    g1[:], gb1[:] = x.T @ d_hidden, d_hidden.sum(axis=0)
    g2[:], gb2[:] = hidden.T @ d_out, d_out.sum(axis=0)
    return grad


def train(
    shape: Shape,
    params: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 1,
    lr: float = 0.1,
    batch: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """Mini-batch SGD from `params` (not modified); returns the new float32 parameters."""
    rng = np.random.default_rng(seed)
    out = params.astype(np.float32, copy=True)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            idx = order[start : start + batch]
            out -= np.float32(lr) * _gradient(shape, out, x[idx], y[idx]).astype(np.float32)
    return out
