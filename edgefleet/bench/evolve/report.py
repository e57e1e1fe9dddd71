"""How `edgefleet bench evolve` shows its numbers: the per-round table, the task list, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgefleet.bench.evolve.config import EvolveBenchConfig
from edgefleet.bench.report import Column, Table


def plots(cfg: EvolveBenchConfig, rows: list[dict[str, Any]], cloud_only: float) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r["round"] for r in rows]
    out = []
    for name, series, ylabel in (
        ("evolve_accuracy.png", ("edge", "cascade"), "accuracy % (held-out engines)"),
        ("evolve_cloud_share.png", ("sent", "equal_share"), "% of readings sent to the hub"),
    ):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        labels = {
            "edge": "edge-only (device model)",
            "cascade": f"cascade (band {cfg.band})",
            "sent": f"sent at band {cfg.band}",
            "equal_share": "sent to match round 0's cascade accuracy",
        }
        for key in series:
            ax.plot(rounds, [r[key] for r in rows], marker="o", label=labels[key])
        if name == "evolve_accuracy.png":
            ax.axhline(cloud_only, color="gray", linestyle="--", label="cloud-only")
        ax.set_xlabel("round (0: the shipped model)")
        ax.set_ylabel(ylabel)
        ax.set_title("engine-fault co-evolution per round")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = cfg.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out


def rounds_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "rounds",
        "engine-fault: device model per round (held-out engines)",
        [
            Column("round", "round", "{}"),
            Column("gate", "gate", "{}"),
            Column("kept", "hard samples kept", "{}"),
            Column("edge", "edge-only %"),
            Column("cascade", "cascade %"),
            Column("sent", "sent at band %"),
            Column("equal_share", "sent for round-0 accuracy %"),
        ],
        rows,
    )


TASKS = Table(
    "tasks",
    "Co-evolution per task",
    [Column("task", "task", "{}", "left"), Column("status", "status", "{}", "left")],
    [
        {"task": "engine", "status": "simulated above (trainable MLP on the device)"},
        {"task": "vision", "status": "not built: no trainable part on the device yet"},
        {"task": "voice", "status": "not built: no trainable part on the device yet"},
    ],
)
