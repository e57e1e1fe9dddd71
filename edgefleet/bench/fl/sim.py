"""The simulated federated measurement: the same training and aggregation functions as the
hub and the agents, in process, so many rounds and variants fit in a minute."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefleet.bench.fl.config import FlBenchConfig


@dataclass
class Sim:
    """In-process federated simulation over the engine partitions."""

    cfg: FlBenchConfig
    data: list[Any] = field(default_factory=list)
    test: Any = None

    def __post_init__(self) -> None:
        from models.datasets.engine import fleet, held_out

        self.data = fleet(self.cfg.clients, seed=0, n=self.cfg.records)
        self.test = held_out(4000)

    def acc(self, params: np.ndarray) -> float:
        from models.training import mlp
        from models.training.engine import SHAPE

        return 100.0 * mlp.accuracy(SHAPE, params, self.test.x, self.test.y)

    def fedavg(
        self,
        clients: list[Any],
        rounds: int,
        *,
        aggregation: str = "fedavg",
        poisoned: int = 0,
        noise: float = 0.0,
        clip: float = 1.0,
    ) -> list[float]:
        from cloud_hub.federated import aggregate
        from cloud_hub.federated.strategy import ClientUpdate, make_strategy
        from models.training import mlp
        from models.training import updates as wire
        from models.training.engine import SHAPE

        params = mlp.init_params(SHAPE, 0)
        strategy = make_strategy(aggregation, trim=0.2)
        rng = np.random.default_rng(7)
        curve = []
        for r in range(rounds):
            ups = []
            for i, d in enumerate(clients):
                with np.errstate(over="ignore", invalid="ignore"):
                    delta = (
                        mlp.train(
                            SHAPE,
                            params,
                            d.x,
                            d.y,
                            epochs=self.cfg.local_epochs,
                            lr=self.cfg.learning_rate,
                            seed=r * 1000 + i,
                        )
                        - params
                    )
                if i < poisoned:  # model poisoning: a large flipped update
                    delta = -10.0 * delta
                if noise > 0 or clip < 1.0:
                    delta = wire.clip_l2(delta, clip)
                ups.append(ClientUpdate(d.engine_id, delta, 1 if noise > 0 else len(d)))
            with np.errstate(over="ignore", invalid="ignore"):  # poisoned runs may diverge
                step = strategy.aggregate_train(ups)
            if noise > 0:
                step = step + aggregate.gaussian_noise(step.size, noise * clip / len(ups), rng)
            params = (params + step).astype(np.float32)
            curve.append(self.acc(params))
        return curve

    def centralised(self, rounds: int) -> list[float]:
        from models.training import mlp
        from models.training.engine import SHAPE

        x = np.concatenate([d.x for d in self.data])
        y = np.concatenate([d.y for d in self.data])
        params, curve = mlp.init_params(SHAPE, 0), []
        for r in range(rounds):
            params = mlp.train(SHAPE, params, x, y, epochs=1, lr=self.cfg.learning_rate, seed=r)
            curve.append(self.acc(params))
        return curve

    def local_only(self) -> float:
        from models.training import mlp
        from models.training.engine import SHAPE

        return float(
            np.mean(
                [
                    self.acc(
                        mlp.train(
                            SHAPE,
                            mlp.init_params(SHAPE, 0),
                            d.x,
                            d.y,
                            epochs=self.cfg.sim_rounds,
                            lr=self.cfg.learning_rate,
                        )
                    )
                    for d in self.data
                ]
            )
        )


@dataclass
class SimResults:
    """Accuracy (%) on the held-out set: curves per round, and end points."""

    fedavg: list[float]  # all clients, per round
    centralised: list[float]  # pooled data, per epoch
    local: float  # local-only, mean over clients
    clean10: float  # 10 clients, clean FedAvg
    poisoned: dict[str, float]  # 10 clients, 2 poisoned: aggregation -> accuracy
    robust_clean: dict[str, float]  # 10 clients, clean, robust aggregations
    dp: dict[float, float]  # noise multiplier -> accuracy


def simulate(cfg: FlBenchConfig) -> SimResults:
    """FedAvg vs centralised vs local-only; 2 of 10 poisoned; DP noise levels."""
    sim = Sim(cfg)
    rounds, prounds = cfg.sim_rounds, cfg.poison_rounds
    fed = sim.fedavg(sim.data, rounds)
    central = sim.centralised(rounds)
    local = sim.local_only()
    ten = sim.data[:10]
    clean10 = sim.fedavg(ten, prounds)[-1]
    poisoned = {
        agg: sim.fedavg(ten, prounds, aggregation=agg, poisoned=2)[-1]
        for agg in ("fedavg", "trimmed_mean", "median")
    }
    robust_clean = {
        agg: sim.fedavg(ten, prounds, aggregation=agg)[-1] for agg in ("trimmed_mean", "median")
    }
    dp = {z: sim.fedavg(sim.data, rounds, noise=z, clip=1.0)[-1] for z in cfg.noise_levels}
    return SimResults(fed, central, local, clean10, poisoned, robust_clean, dp)
