"""Strategies (after Flower): `configure_train` picks the round's clients, `aggregate_train`
turns accepted updates into one global change. The maths is in `aggregate.py`."""

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cloud_hub.federated import aggregate


@dataclass(frozen=True, slots=True)
class ClientUpdate:
    """One accepted update: the parameter change a client computed from a global version."""

    device_id: str
    delta: np.ndarray
    samples: int
    staleness: int = 0


class Strategy(ABC):
    """How a round chooses its clients and combines their updates."""

    name = "strategy"

    def __init__(self, *, staleness_alpha: float = 0.5) -> None:
        self.staleness_alpha = staleness_alpha

    def configure_train(
        self,
        candidates: Sequence[str],
        *,
        fraction: float,
        min_clients: int,
        rng: np.random.Generator,
    ) -> list[str]:
        """A random `fraction` of the candidates, at least `min_clients` (if there are)."""
        want = min(len(candidates), max(min_clients, math.ceil(fraction * len(candidates))))
        picked: list[int] = (
            rng.choice(len(candidates), size=want, replace=False).tolist() if want else []
        )
        return sorted(candidates[int(i)] for i in picked)

    def weights(self, updates: Sequence[ClientUpdate]) -> np.ndarray:
        return np.array(
            [aggregate.staleness_weight(u.staleness, self.staleness_alpha) for u in updates]
        )

    @abstractmethod
    def aggregate_train(self, updates: Sequence[ClientUpdate]) -> np.ndarray:
        """The global parameter change from the accepted updates."""


class FedAvg(Strategy):
    """Mean weighted by samples (times the staleness discount in asynchronous mode)."""

    name = "fedavg"

    def aggregate_train(self, updates: Sequence[ClientUpdate]) -> np.ndarray:
        samples = np.array([u.samples for u in updates], dtype=np.float64)
        return aggregate.fedavg(
            np.stack([u.delta for u in updates]), samples * self.weights(updates)
        )


class TrimmedMean(Strategy):
    name = "trimmed_mean"

    def __init__(self, *, trim: float = 0.2, staleness_alpha: float = 0.5) -> None:
        super().__init__(staleness_alpha=staleness_alpha)
        self.trim = trim

    def aggregate_train(self, updates: Sequence[ClientUpdate]) -> np.ndarray:
        return aggregate.trimmed_mean(self._discounted(updates), self.trim)

    def _discounted(self, updates: Sequence[ClientUpdate]) -> np.ndarray:
        out: np.ndarray = np.stack([u.delta for u in updates]) * self.weights(updates)[:, None]
        return out


class CoordinateMedian(TrimmedMean):
    name = "median"

    def aggregate_train(self, updates: Sequence[ClientUpdate]) -> np.ndarray:
        return aggregate.coordinate_median(self._discounted(updates))


def make_strategy(name: str, *, trim: float = 0.2, staleness_alpha: float = 0.5) -> Strategy:
    if name == "fedavg":
        return FedAvg(staleness_alpha=staleness_alpha)
    if name == "trimmed_mean":
        return TrimmedMean(trim=trim, staleness_alpha=staleness_alpha)
    if name == "median":
        return CoordinateMedian(staleness_alpha=staleness_alpha)
    raise ValueError(f"unknown aggregation {name!r}: fedavg, trimmed_mean or median")
