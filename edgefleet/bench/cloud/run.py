"""`edgefleet bench cloud`, start to end: inputs, the batcher at each batch size, report."""

from __future__ import annotations

import asyncio
import resource
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

TARGET_MODEL = "face-detect-full"
SPEEDUP_MIN = 1.5  # batched images/s over unbatched, TARGET_MODEL at the default batch


@dataclass
class CloudBenchConfig:
    models: tuple[str, ...] = ("face-detect-full", "face-detect-cloud", "engine-fault-cloud")
    batch: int = 8
    images: int = 64  # requests submitted at once per round
    rounds: int = 3
    seed: int = 2
    plots: bool = True

    def validate(self) -> None:
        from models.catalogue import FACE_DETECTION, TABULAR, load_catalogue

        catalogue = load_catalogue()
        for model in self.models:
            if model not in catalogue:
                raise ValueError(f"unknown model {model!r} (edgefleet models list)")
            if catalogue.get(model).task not in (FACE_DETECTION, TABULAR):
                raise ValueError(f"{model}: only face detectors and engine models are benched")
        if self.batch < 2 or self.images < self.batch or self.rounds < 1:
            raise ValueError("--batch must be >= 2, --images >= --batch, --rounds >= 1")


def _payloads(model: str, cfg: CloudBenchConfig) -> list[bytes]:
    from models.catalogue import FACE_DETECTION, load_catalogue

    if load_catalogue().get(model).task == FACE_DETECTION:
        from models.datasets.faces import generate

        return [s.jpeg for s in generate(cfg.images, cfg.seed)]
    from edgefleet.bench.offload.measure import engine_readings

    return [s.payload for s in engine_readings(cfg.images, cfg.seed)]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(
    model: str, max_batch: int, payloads: list[bytes], rounds: int
) -> dict[str, Any]:
    from cloud_hub.core.metrics import HubMetrics
    from cloud_hub.inference.batcher import ModelWorker
    from models.pipelines import load_pipeline

    worker = ModelWorker(
        model, load_pipeline, max_batch=max_batch, queue_max=len(payloads), metrics=HubMetrics()
    )
    worker.start()
    try:
        await worker.load()
        await asyncio.gather(*(worker.submit(p) for p in payloads[: max_batch * 2]))  # warm
        wall, cpu = time.perf_counter(), _cpu_s()
        outcomes = []
        for _ in range(rounds):
            outcomes += await asyncio.gather(*(worker.submit(p) for p in payloads))
        wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    finally:
        await worker.stop()
    n = len(outcomes)
    return {
        "model": model,
        "max_batch": max_batch,
        "n": n,
        "per_s": n / wall,
        "per_cpu_s": n / cpu if cpu > 0 else None,
        "cpu_cores": cpu / wall,
        "mean_batch": statistics.fmean(o.batch_size for o in outcomes),
    }


def run_cloud_bench(cfg: CloudBenchConfig, out: Path, console: Any = None) -> Report:
    console = wide_console(console)
    report = Report(
        "cloud",
        "edgefleet bench cloud - the hub's cloud inference, batched vs one at a time",
        config=asdict(cfg),
    )
    table = Table("throughput", f"{cfg.images} requests at once, {cfg.rounds} rounds", [
        Column("model", "model", justify="left"),
        Column("max_batch", "max batch", "{:d}"),
        Column("mean_batch", "mean batch", "{:.1f}"),
        Column("per_s", "requests/s", "{:.1f}"),
        Column("per_cpu_s", "requests/CPU-s", "{:.1f}"),
        Column("cpu_cores", "cores busy", "{:.2f}"),
        Column("speedup", "batched / alone", "{:.2f}x"),
    ])  # fmt: skip
    report.tables = [table]
    for model in cfg.models:
        payloads = _payloads(model, cfg)
        rows = []
        for max_batch in (1, cfg.batch):
            console.print(f"[bold]{model}[/bold]: max_batch {max_batch} ...")
            rows.append(asyncio.run(_measure(model, max_batch, payloads, cfg.rounds)))
        rows[1]["speedup"] = rows[1]["per_s"] / rows[0]["per_s"]
        table.rows += rows
    target = next((r for r in table.rows if r["model"] == TARGET_MODEL and "speedup" in r), None)
    report.checks = [
        check_min(
            f"{TARGET_MODEL}: batch {cfg.batch} / one at a time",
            target["speedup"] if target else None,
            SPEEDUP_MIN,
            "x",
            "requests/s",
        )
    ]
    report.notes.append(
        "In process, through the hub's batcher (no HTTP). requests/CPU-s is per second of the "
        "process's CPU time: what one core buys; 'cores busy' = CPU time / wall time."
    )
    if cfg.plots:
        labels = [r["model"] for r in table.rows if r["max_batch"] == 1]
        series = {
            f"max batch {b}": [r["per_s"] for r in table.rows if r["max_batch"] == b]
            for b in (1, cfg.batch)
        }
        report.plots = [
            bar_chart(
                out / "cloud-throughput.png",
                labels,
                series,
                title="Hub cloud inference: requests/s, one at a time vs batched",
                ylabel="requests/s",
                log=True,
            )
        ]
    publish(report, out, console)
    return report
