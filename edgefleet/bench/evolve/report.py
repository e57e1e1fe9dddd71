"""How `edgefleet bench evolve` shows its numbers: the per-round table, the task list, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgefleet.bench.evolve.config import EvolveBenchConfig
from edgefleet.bench.report import Column, Table

TITLES = {
    "engine": "engine-fault",
    "vision": "face-detect-lite + re-scorer",
    "voice": "wakeword-lite + judge",
}
FILES = {"engine": "evolve", "vision": "evolve_vision", "voice": "evolve_voice"}
HELD_OUT = {
    "engine": "held-out engines",
    "vision": "bench offload's images, IoU >= 0.5 hits",
    "voice": "bench offload's clips, right clips",
}
BANDS = {"engine": "band", "vision": "vision_band", "voice": "voice_band"}


def plots(
    cfg: EvolveBenchConfig, rows: list[dict[str, Any]], cloud_only: float, task: str = "engine"
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    band = getattr(cfg, BANDS[task])
    rounds = [r["round"] for r in rows]
    out = []
    for name, series, ylabel in (
        ("accuracy", ("edge", "cascade"), f"accuracy % ({HELD_OUT[task]})"),
        ("cloud_share", ("sent", "equal_share"), "% of inputs sent to the hub"),
    ):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        labels = {
            "edge": "edge-only (device model)",
            "cascade": f"cascade (band {band})",
            "sent": f"sent at band {band}",
            "equal_share": "sent to match round 0's cascade accuracy",
        }
        for key in series:
            ax.plot(rounds, [r[key] for r in rows], marker="o", label=labels[key])
        if name == "accuracy":
            ax.axhline(cloud_only, color="gray", linestyle="--", label="cloud-only")
        ax.set_xlabel("round (0: the shipped model)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{TITLES[task]} co-evolution per round")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = cfg.out / f"{FILES[task]}_{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out


def rounds_table(rows: list[dict[str, Any]], task: str = "engine") -> Table:
    false = {
        "vision": [Column("false", "false faces / image", "{:.3f}")],
        "voice": [Column("near_miss", "near-miss alarms %", "{:.1f}")],
    }.get(task, [])
    return Table(
        "rounds" if task == "engine" else f"{task}_rounds",
        f"{TITLES[task]}: device model per round ({HELD_OUT[task]})",
        [
            Column("round", "round", "{}"),
            Column("gate", "gate", "{}"),
            Column("kept", "hard samples kept", "{}"),
            Column("edge", "edge-only %"),
            *false,
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
        {
            "task": "vision",
            "status": "simulated above (re-scorer over the frozen detector's "
            "candidates; the agent does not serve it yet)",
        },
        {
            "task": "voice",
            "status": "simulated above (judge of the frozen wake-word "
            "model's candidates; the agent does not serve it yet)",
        },
    ],
)
