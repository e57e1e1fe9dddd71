"""Counters and a rolling latency window; touched only from the event loop."""

import statistics
from collections import Counter, deque

from contract import ErrorCode


class Stats:
    """Monotonic counters (requests, results, errors by code, ...) and recent compute times."""

    def __init__(self, window: int = 256) -> None:
        self.counters: Counter[str] = Counter()
        self._infer_ms: deque[float] = deque(maxlen=window)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def error(self, code: ErrorCode) -> None:
        self.counters["errors"] += 1
        self.counters[f"errors.{code.value}"] += 1

    def infer_ms(self, value: float) -> None:
        self._infer_ms.append(value)

    def infer_ms_p50(self) -> float | None:
        return statistics.median(self._infer_ms) if self._infer_ms else None

    def snapshot(self) -> dict[str, int]:
        return dict(self.counters)
