"""The co-evolution simulation: the same training, aggregation and quality gate as the agents
and the hub, in process; and the device latency of the shipped and the last model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgefleet.bench.evolve.config import FLEET_SEED, TEST_SEED, TIMED_INVOKES, EvolveBenchConfig


@dataclass
class Models:
    """The fixed parts of the simulation: both models' shapes, the hub's model, the sets."""

    edge_shape: Any
    cloud_shape: Any
    cloud: np.ndarray
    test: Any
    validation: Any
    cloud_test_labels: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.cloud_test_labels = self.cloud_labels(self.test.x)

    def cloud_labels(self, x: np.ndarray) -> np.ndarray:
        from models.training import mlp

        return np.asarray(mlp.predict_proba(self.cloud_shape, self.cloud, x).argmax(1))

    def cascade(self, params: np.ndarray, band: float, spot: float) -> tuple[float, float]:
        """Expected (accuracy, share sent) of the cascade at `band` on the test set, a share
        `spot` of the confident answers spot-checked (the cloud's answer replacing)."""
        from models.training import mlp

        proba = mlp.predict_proba(self.edge_shape, params, self.test.x)
        ask = proba.max(1) <= band
        cloud_right = self.cloud_test_labels == self.test.y
        edge_right = proba.argmax(1) == self.test.y
        right = np.where(ask, cloud_right, spot * cloud_right + (1 - spot) * edge_right)
        return float(right.mean()), float(ask.mean() + spot * (1 - ask.mean()))

    def share_for(self, params: np.ndarray, accuracy: float, spot: float) -> float:
        """The least share the cascade must send to reach `accuracy` (bands 0..1 by 0.01)."""
        for band in np.linspace(0.0, 1.0, 101):
            got, share = self.cascade(params, float(band), spot)
            if got >= accuracy:
                return share
        return 1.0


def round_row(
    m: Models, r: int, params: np.ndarray, cfg: EvolveBenchConfig, **extra: Any
) -> dict[str, Any]:
    from models.training import mlp

    edge = 100 * mlp.accuracy(m.edge_shape, params, m.test.x, m.test.y)
    cascade, share = m.cascade(params, cfg.band, cfg.spot_checks)
    return {"round": r, "edge": edge, "cascade": 100 * cascade, "sent": 100 * share, **extra}


def simulate(cfg: EvolveBenchConfig) -> tuple[list[dict[str, Any]], float, np.ndarray, np.ndarray]:
    """Rows per round (round 0: the shipped model), cloud-only accuracy, first/last params."""
    from cloud_hub.federated import aggregate
    from cloud_hub.federated.finalize import validation_set
    from models.datasets.engine import fleet, held_out
    from models.training import engine, mlp

    m = Models(
        engine.SHAPE, engine.CLOUD_SHAPE, engine.cloud_params(), held_out(seed=TEST_SEED),
        validation_set(),
    )  # fmt: skip
    cloud_only = 100 * float((m.cloud_test_labels == m.test.y).mean())
    first = serving = weights = engine.seed_params()
    start_cascade, start_share = m.cascade(first, cfg.band, cfg.spot_checks)
    devices = fleet(cfg.devices, seed=FLEET_SEED, n=cfg.rounds * cfg.readings)
    kept = [(np.zeros((0, engine.SHAPE.inputs), np.float32), np.zeros(0, np.int64))] * len(devices)
    rows = [round_row(m, 0, first, cfg, kept=0, gate="shipped", equal_share=100 * start_share)]
    for r in range(1, cfg.rounds + 1):
        deltas, counts = [], []
        for i, device in enumerate(devices):
            # the device answers with the version it serves and asks the hub when unsure ...
            x = device.x[(r - 1) * cfg.readings : r * cfg.readings]
            unsure = mlp.predict_proba(engine.SHAPE, serving, x).max(1) <= cfg.band
            checked = np.random.default_rng([r, i]).random(len(x)) < cfg.spot_checks
            unsure = unsure | checked
            xs = np.concatenate([kept[i][0], x[unsure]])[-cfg.keep :]
            ys = np.concatenate([kept[i][1], m.cloud_labels(x[unsure])])[-cfg.keep :]
            kept[i] = (xs, ys)
            if len(ys):  # ... and trains the round's weights on what it kept
                trained = mlp.train(
                    engine.SHAPE, weights, xs, ys, epochs=cfg.local_epochs,
                    lr=cfg.learning_rate, seed=r * 1000 + i,
                )  # fmt: skip
                deltas.append(trained - weights)
                counts.append(len(ys))
        if deltas:
            step = aggregate.fedavg(np.stack(deltas), np.array(counts, np.float64))
            weights = (weights + step).astype(np.float32)
        val = m.validation
        refused = aggregate.gate_refuses(
            mlp.accuracy(engine.SHAPE, weights, val.x, val.y),
            mlp.accuracy(engine.SHAPE, serving, val.x, val.y),
            cfg.max_regression,
        )
        if not refused:  # published; refused: the devices keep serving, the next round
            serving = weights  # goes on from this round's weights (as the hub's rounds do)
        rows.append(
            round_row(
                m, r, serving, cfg, kept=sum(len(k[1]) for k in kept),
                gate="refused" if refused else "published",
                equal_share=100 * m.share_for(serving, start_cascade, cfg.spot_checks),
            )
        )  # fmt: skip
    return rows, cloud_only, first, serving


def latency_ms(first: np.ndarray, last: np.ndarray) -> tuple[float, float]:
    """p50 ms of one reading through onnxruntime, the shipped and the last model, alternating."""
    import tempfile

    from models.datasets.engine import held_out
    from models.runtimes import load_runtime
    from models.training import engine
    from models.training.onnx_export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        runtimes = []
        for name, params in (("first", first), ("last", last)):
            path = Path(tmp) / f"{name}.onnx"
            path.write_bytes(export_onnx(engine.SHAPE, params))
            runtimes.append(load_runtime(path, num_threads=1))
        x = held_out(TIMED_INVOKES, seed=TEST_SEED).x
        times: list[list[float]] = [[], []]
        for row in x:
            for k, rt in enumerate(runtimes):
                t0 = time.perf_counter()
                rt.invoke(row.reshape(1, -1))
                times[k].append((time.perf_counter() - t0) * 1000)
    return float(np.median(times[0])), float(np.median(times[1]))
