"""Aggregation as pure functions over stacked updates (k clients x n parameters)."""

import math

import numpy as np


def fedavg(updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean (FedAvg: weights are sample counts, possibly times staleness factors)."""
    w = np.asarray(weights, dtype=np.float64)
    if updates.shape[0] != w.shape[0] or w.sum() <= 0:
        raise ValueError("need one positive weight per update")
    out: np.ndarray = (updates.astype(np.float64) * w[:, None]).sum(axis=0) / w.sum()
    return out


def gate_refuses(accuracy: float, base_accuracy: float, max_regression: float | None) -> bool:
    """The quality gate: a candidate that validates worse than the version it would replace
    by more than `max_regression` (None: no gate) is not published."""
    return max_regression is not None and accuracy < base_accuracy - max_regression


def trimmed_mean(updates: np.ndarray, trim: float) -> np.ndarray:
    """Per coordinate, drop the `trim` share of the lowest and of the highest values, average
    the rest (robust to up to that share of arbitrary updates)."""
    if not 0 <= trim < 0.5:
        raise ValueError("trim must be in [0, 0.5)")
    k = updates.shape[0]
    cut = math.floor(k * trim)
    ordered = np.sort(updates.astype(np.float64), axis=0)
    out: np.ndarray = ordered[cut : k - cut].mean(axis=0)
    return out


def coordinate_median(updates: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.median(updates.astype(np.float64), axis=0)
    return out


def staleness_weight(staleness: int, alpha: float = 0.5) -> float:
    """FedBuff-style polynomial discount of an update computed `staleness` versions ago."""
    if staleness < 0:
        raise ValueError("staleness cannot be negative")
    return float((1.0 + staleness) ** -alpha)


def gaussian_noise(n: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, sigma, n) if sigma > 0 else np.zeros(n)


def dp_mean(
    total: np.ndarray, count: int, clip: float, noise_multiplier: float, rng: np.random.Generator
) -> np.ndarray:
    """DP-FedAvg: (sum of clipped updates + N(0, (z*C)^2)) / count."""
    out: np.ndarray = (total + gaussian_noise(total.size, noise_multiplier * clip, rng)) / count
    return out


def gaussian_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """An upper bound on epsilon for `rounds` Gaussian mechanisms of sensitivity C and noise
    z*C (Renyi DP composition, no subsampling amplification - conservative)."""
    # a tiny multiplier underflows to 0.0 and a huge one to inf (`**` would raise): both found
    # by the API fuzzer
    variance = noise_multiplier * noise_multiplier
    if noise_multiplier <= 0 or variance == 0.0:
        return math.inf
    return min(
        rounds * a / (2 * variance) + math.log(1 / delta) / (a - 1)
        for a in (1.25, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256)
    )


def norm_outliers(norms: np.ndarray, threshold: float = 6.0) -> np.ndarray:
    """True where a norm lies more than `threshold` robust z-scores (median/MAD) above the
    median; a small floor keeps near-identical norms from flagging noise."""
    med = float(np.median(norms))
    mad = max(float(np.median(np.abs(norms - med))) * 1.4826, 0.05 * med, 1e-12)
    result: np.ndarray = (norms - med) / mad > threshold
    return result
