"""How `edgefleet bench fl` shows its numbers: the live-round and accuracy tables, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgefleet.bench.fl.config import FlBenchConfig
from edgefleet.bench.fl.sim import SimResults
from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import Column, Table


def live_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "live",
        "Live rounds (real MQTT, HTTP, SQL)",
        [
            Column("round", "round", "{}"),
            Column("quantization", "update", "{}"),
            Column("clients", "clients", "{}"),
            Column("aggregation_ms", "aggregation ms"),
            Column("round_s", "round s"),
            Column("bytes_per_update", "bytes/update", "{:.0f}"),
            Column("accuracy", "accuracy %"),
            Column("state", "state", "{}"),
            Column("gate", "gate", "{}"),
        ],
        rows,
    )


def accuracy_table(cfg: FlBenchConfig, sim: SimResults) -> Table:
    rounds, prounds = cfg.sim_rounds, cfg.poison_rounds
    return Table(
        "accuracy",
        f"Accuracy after {rounds} rounds (held-out set)",
        [Column("setting", "setting", "{}", "left"), Column("accuracy", "accuracy %")],
        [
            {
                "setting": f"centralised (pooled data, {rounds} epochs)",
                "accuracy": sim.centralised[-1],
            },
            {"setting": f"FedAvg, {cfg.clients} non-IID clients", "accuracy": sim.fedavg[-1]},
            {"setting": "local-only (mean over clients)", "accuracy": sim.local},
            {"setting": f"10 clients FedAvg, clean ({prounds} rounds)", "accuracy": sim.clean10},
            *[
                {"setting": f"10 clients, 2 poisoned, {k} ({prounds} rounds)", "accuracy": v}
                for k, v in sim.poisoned.items()
            ],
            *[
                {"setting": f"10 clients, clean, {k} ({prounds} rounds)", "accuracy": v}
                for k, v in sim.robust_clean.items()
            ],
            *[
                {"setting": f"DP noise multiplier {z} (clip 1.0)", "accuracy": v}
                for z, v in sim.dp.items()
            ],
        ],
    )


def live_note(cfg: FlBenchConfig, broker: str) -> str:
    return (
        f"live rounds: {cfg.clients} clients over {broker} + HTTP + "
        "SQLite; aggregation_ms measured by the hub (load, aggregate, export "
        "ONNX, sign, register)"
    )


def _accuracy_curve(cfg: FlBenchConfig, sim: SimResults) -> Path:
    """fl_accuracy.png: FedAvg and centralised per round, local-only as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = range(1, len(sim.fedavg) + 1)
    ax.plot(xs, sim.fedavg, label=f"FedAvg ({cfg.clients} non-IID clients)")
    ax.plot(xs, sim.centralised, label="centralised (pooled)")
    ax.axhline(sim.local, color="gray", linestyle="--", label="local-only (mean)")
    ax.set_xlabel("round (centralised: epoch)")
    ax.set_ylabel("accuracy %")
    ax.set_title("engine-fault accuracy per round")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = cfg.out / "fl_accuracy.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plots(cfg: FlBenchConfig, sim: SimResults, live: list[dict[str, Any]]) -> list[Path]:
    """fl_accuracy.png, fl_dp.png, fl_poisoning.png and (with published rounds) fl_bytes.png."""
    out = [
        _accuracy_curve(cfg, sim),
        bar_chart(
            cfg.out / "fl_dp.png",
            [str(z) for z in sim.dp],
            {"accuracy %": list(sim.dp.values())},
            title="DP noise multiplier vs accuracy",
            ylabel="accuracy %",
        ),
        bar_chart(
            cfg.out / "fl_poisoning.png",
            ["clean", *sim.poisoned],
            {"accuracy %": [sim.clean10, *sim.poisoned.values()]},
            title="2 of 10 clients poisoned",
            ylabel="accuracy %",
        ),
    ]
    if live:
        out.append(
            bar_chart(
                cfg.out / "fl_bytes.png",
                ["fp32", "int8"],
                {
                    "bytes/update": [
                        float(
                            np.mean([r["bytes_per_update"] for r in live if r["quantization"] == q])
                        )
                        for q in ("none", "int8")
                    ]
                },
                title="bytes per update",
                ylabel="bytes",
            )
        )
    return out
