"""`edgefleet bench intent`, start to end: clips per split, the model on each, report."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgefleet.bench.plots import bar_chart
from edgefleet.bench.report import (
    Column,
    Report,
    Table,
    check_min,
    publish,
    wide_console,
)

MODEL = "voice-command"  # the default; any catalogue model of task `intent`
TARGET_SPLIT = "held_out"
ACCURACY_MIN = 90.0  # % right on commands in voices and phrasings not used for tuning


@dataclass
class IntentBenchConfig:
    clips: int = 120  # per split
    splits: tuple[str, ...] = ()  # empty: every split of models.datasets.commands
    seed: int = 31
    plots: bool = True
    model: str = MODEL

    def validate(self) -> None:
        from models.catalogue import load_catalogue
        from models.datasets.commands import SPLITS

        if (task := load_catalogue().get(self.model).task) != "intent":
            raise ValueError(f"--model {self.model} is a {task} model, not an intent model")

        unknown = [s for s in self.splits if s not in SPLITS]
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}; choose from {', '.join(SPLITS)}")
        if self.clips < 1:
            raise ValueError("--clips must be >= 1")


def _score(pipeline: Any, split: str, cfg: IntentBenchConfig) -> dict[str, Any]:
    from models.datasets.commands import SNRS_DB, generate_commands
    from models.processing.commands import Intent

    clips = generate_commands(cfg.clips, split, cfg.seed)
    verdicts: list[str] = []
    seconds: list[float] = []
    by_snr: dict[float | None, list[bool]] = {snr: [] for snr in SNRS_DB}
    for c in clips:
        start = time.perf_counter()
        out = pipeline.run(c.wav)
        seconds.append(time.perf_counter() - start)
        said = Intent(out.intent, out.target, out.area)
        if c.truth.understood:
            verdict = "missed" if not out.understood else ("right" if said == c.truth else "wrong")
        else:  # no command was said: "not understood" is the right answer
            verdict = "wrong" if out.understood else "right"
        verdicts.append(verdict)
        by_snr[c.clip.spec.snr_db].append(verdict == "right")
    n = len(clips)
    row: dict[str, Any] = {
        "split": split,
        "clips": n,
        "right": 100 * verdicts.count("right") / n,
        "wrong": 100 * verdicts.count("wrong") / n,
        "missed": 100 * verdicts.count("missed") / n,
        "p50_ms": 1000 * statistics.median(seconds),
    }
    for snr, hits in by_snr.items():
        row[_snr_key(snr)] = 100 * sum(hits) / len(hits) if hits else None
    return row


def _snr_key(snr: float | None) -> str:
    return "right_clean" if snr is None else f"right_{snr:g}db"


def run_intent_bench(cfg: IntentBenchConfig, out: Path, console: Any = None) -> Report:
    from models.datasets.commands import SNRS_DB, SPLITS
    from models.pipelines import load_pipeline

    console = wide_console(console)
    report = Report(
        "intent",
        f"edgefleet bench intent - {cfg.model}: spoken commands -> intent",
        config=asdict(cfg),
    )
    snr_columns = [
        Column(_snr_key(s), "right, clean" if s is None else f"right, {s:g} dB", "{:.1f}%")
        for s in SNRS_DB
    ]
    table = Table("accuracy", f"{cfg.clips} clips per split, seed {cfg.seed}", [
        Column("split", "split", justify="left"),
        Column("clips", "clips", "{:d}"),
        Column("right", "right", "{:.1f}%"),
        Column("wrong", "wrong intent", "{:.1f}%"),
        Column("missed", "not understood", "{:.1f}%"),
        *snr_columns,
        Column("p50_ms", "p50 ms/clip", "{:.0f}"),
    ])  # fmt: skip
    report.tables = [table]
    pipeline = load_pipeline(cfg.model)
    for split in cfg.splits or tuple(SPLITS):
        console.print(f"[bold]{split}[/bold]: {cfg.clips} clips ...")
        table.rows.append(_score(pipeline, split, cfg))
    target = next((r for r in table.rows if r["split"] == TARGET_SPLIT), None)
    report.checks = [
        check_min(
            "intent right, held-out voices and phrasings",
            target["right"] if target else None,
            ACCURACY_MIN,
            "%",
        )
    ]
    report.notes.append(
        "right: action, device and area as said (not_commands: not understood); wrong intent: "
        "understood as another command (not_commands: as any command); not understood: no "
        "action or no device recognised. Splits: docs/voice-commands.md."
    )
    if cfg.plots:
        labels = [r["split"] for r in table.rows]
        series = {
            "clean" if s is None else f"{s:g} dB": [r[_snr_key(s)] for r in table.rows]
            for s in SNRS_DB
        }
        report.plots = [
            bar_chart(
                out / "intent-accuracy.png",
                labels,
                series,
                title=f"{cfg.model}: commands understood right, per split and noise",
                ylabel="% right",
            )
        ]
    publish(report, out, console)
    return report
