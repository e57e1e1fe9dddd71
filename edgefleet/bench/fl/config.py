"""What `edgefleet bench fl` runs: clients, rounds, local training, DP noise levels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgefleet.bench.report import DEFAULT_OUT


@dataclass(frozen=True)
class FlBenchConfig:
    out: Path = DEFAULT_OUT
    clients: int = 100
    live_rounds: int = 3
    sim_rounds: int = 30
    poison_rounds: int = 60  # 10 clients learn slower than 100: more rounds to converge
    records: int = 300
    local_epochs: int = 1
    learning_rate: float = 0.2
    noise_levels: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
    plots: bool = True
