"""Co-evolution of a trainable head on a frozen device model (the vision and voice tasks of
`edgefleet bench evolve`): the round loop, written once, and how a version is scored.

A task (`HeadTask`) says what a device sees each round, how sure its serving head is about an
input (`margin`: unsure inputs go to the hub), what the hub's answer teaches (`lessons`), how
the hub's gate scores a head on its labelled validation set, and how the held-out test set
scores it (`Scored`). `params` None is the shipped device model without a head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgefleet.bench.evolve.config import EvolveBenchConfig


@dataclass
class Scored:
    """The test set scored once per version: per item, what the device's answer and the hub's
    answer are worth (hits, or 1 for a right clip), and how sure the device was."""

    denominator: int  # faces, or clips
    edge: np.ndarray
    cloud: np.ndarray
    margins: np.ndarray
    extra: dict[str, float]

    def accuracy(self, values: np.ndarray) -> float:
        return 100 * float(values.sum()) / max(self.denominator, 1)

    def cascade(self, asked: np.ndarray, spot: float) -> tuple[float, float]:
        """(accuracy %, share sent) when `asked` go to the hub and a share `spot` of the others
        too, in expectation (as the engine task)."""
        chosen = np.where(asked, self.cloud, self.edge)
        accuracy = (1 - spot) * self.accuracy(chosen) + spot * self.accuracy(self.cloud)
        share = float(asked.mean())
        return accuracy, share + spot * (1 - share)

    def share_for(self, target: float, spot: float) -> float:
        """The least share the cascade must send (least sure inputs first) to reach `target`."""
        order = np.argsort(self.margins, kind="stable")
        for k in range(len(order) + 1):
            asked = np.zeros(len(order), bool)
            asked[order[:k]] = True
            accuracy, share = self.cascade(asked, spot)
            if accuracy >= target - 1e-9:
                return share
        return 1.0


class Sets:
    """A head task's inputs: the held-out test set, the hub's validation set and each device's
    traffic (`per_round` new inputs a round), made by `make(n, seed)`; every input knows how
    sure a head is about it (`margin`)."""

    def __init__(
        self, make: Callable[[int, int], list[Any]], seeds: tuple[int, int, int],
        sizes: tuple[int, int], per_round: int, cfg: EvolveBenchConfig,
    ) -> None:  # fmt: skip
        test_seed, validation_seed, fleet_seed = seeds
        self.per_round = per_round
        self.test = make(sizes[0], test_seed)
        self.validation = make(sizes[1], validation_seed)
        n = cfg.rounds * per_round
        self.fleet = [make(n, fleet_seed + d) for d in range(cfg.devices)]

    def traffic(self, device: int, round_: int) -> list[Any]:
        return self.fleet[device][(round_ - 1) * self.per_round : round_ * self.per_round]

    def margin(self, item: Any, params: np.ndarray | None) -> float:
        return float(item.margin(params))


class HeadTask(Protocol):
    shape: Any  # models.training.mlp.Shape
    band: float  # unsure: margin <= band
    epochs: int
    lr: float

    def shipped(self) -> np.ndarray: ...
    def traffic(self, device: int, round_: int) -> list[Any]: ...
    def margin(self, item: Any, params: np.ndarray | None) -> float: ...
    def lessons(self, item: Any) -> tuple[np.ndarray, np.ndarray]: ...
    def gate_score(self, params: np.ndarray | None) -> float: ...
    def scored(self, params: np.ndarray | None) -> Scored: ...


def balanced(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each class repeated up to the largest one's count: the hub's rare verdicts (a veto, a
    face the detector scored low) weigh as much as the common ones."""
    counts = np.bincount(y)
    present = [c for c in range(len(counts)) if counts[c]]
    if len(present) < 2:
        return x, y
    top = counts.max()
    idx = np.concatenate([np.resize(np.flatnonzero(y == c), top) for c in present])
    return x[idx], y[idx]


def simulate_head(task: HeadTask, cfg: EvolveBenchConfig) -> list[dict[str, Any]]:
    """Rows per round (round 0: the shipped model); the last row holds the serving `params`."""
    from cloud_hub.federated import aggregate
    from models.training import mlp

    spot = cfg.spot_checks

    def row(r: int, params: np.ndarray | None, **extra: Any) -> tuple[dict[str, Any], Scored]:
        s = task.scored(params)
        cascade, share = s.cascade(s.margins <= task.band, spot)
        out = {"round": r, "edge": s.accuracy(s.edge), **s.extra, "cascade": cascade,
               "sent": 100 * share, **extra}  # fmt: skip
        return out, s

    first, _ = row(0, None, kept=0, gate="shipped")
    first["equal_share"] = first["sent"]
    rows, target = [first], first["cascade"]
    serving: np.ndarray | None = None  # the device as shipped
    weights = task.shipped()  # a head that answers as the shipped device does
    empty = (np.zeros((0, task.shape.inputs), np.float32), np.zeros(0, np.int64))
    kept = [empty] * cfg.devices
    for r in range(1, cfg.rounds + 1):
        deltas, counts = [], []
        for d in range(cfg.devices):
            rng = np.random.default_rng([r, d, 7])
            for item in task.traffic(d, r):
                if task.margin(item, serving) <= task.band or rng.random() < spot:
                    x, y = task.lessons(item)
                    kept[d] = (np.concatenate([kept[d][0], x])[-cfg.keep :],
                               np.concatenate([kept[d][1], y])[-cfg.keep :])  # fmt: skip
            if len(kept[d][1]):
                trained = mlp.train(task.shape, weights, *balanced(*kept[d]),
                                    epochs=task.epochs, lr=task.lr, seed=r * 1000 + d)  # fmt: skip
                deltas.append(trained - weights)
                counts.append(len(kept[d][1]))
        if deltas:
            step = aggregate.fedavg(np.stack(deltas), np.array(counts, np.float64))
            weights = (weights + step).astype(np.float32)
        refused = aggregate.gate_refuses(
            task.gate_score(weights), task.gate_score(serving), cfg.max_regression
        )
        if not refused:
            serving = weights
        out, s = row(r, serving, kept=sum(len(k[1]) for k in kept),
                     gate="refused" if refused else "published")  # fmt: skip
        out["equal_share"] = 100 * s.share_for(target, spot)
        rows.append(out)
    rows[-1]["params"] = serving  # for the latency figure; run.py takes it out
    return rows
