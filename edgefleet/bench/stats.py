"""Latency statistics and bounded measurement loops, shared by every benchmark."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in 0..100; NaN when empty."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    """Latency statistics in milliseconds."""

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Summary:
        if not values_ms:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan)
        return cls(
            n=len(values_ms),
            p50=percentile(values_ms, 50),
            p90=percentile(values_ms, 90),
            p99=percentile(values_ms, 99),
            mean=sum(values_ms) / len(values_ms),
            min=min(values_ms),
            max=max(values_ms),
        )

    def as_dict(self) -> dict[str, float]:
        return {k: json_number(v) for k, v in asdict(self).items()}


def json_number(value: Any) -> Any:
    """JSON has no NaN: write null instead; round floats for readable files."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    return value


class Timer:
    """`with Timer() as t: ...; t.ms` - wall time of a block with perf_counter."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.ms = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self.start) * 1000.0


def bounded(count: int, time_limit_s: float) -> Iterator[int]:
    """0, 1, ... up to `count` iterations, stopping early once `time_limit_s` has passed
    (the first iteration always runs)."""
    deadline = time.perf_counter() + time_limit_s
    for i in range(count):
        if i and time.perf_counter() > deadline:
            return
        yield i
