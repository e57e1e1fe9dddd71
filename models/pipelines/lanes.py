"""A hub batch spread over copies of one pipeline, one thread each.

A TFLite interpreter is not thread-safe, and feeding BlazeFace a batch tensor of 8 was no
faster per image than 8 single invokes here (XNNPACK, 2 cores: 121 vs 220 images/s), so a
batch uses the cores by running `lanes` copies of the pipeline side by side: decoding and
invoking release the GIL. The copies are built on the first batch: an agent, which calls `run`
one request at a time, never pays for them.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

P = TypeVar("P")
O = TypeVar("O")  # noqa: E741


def _each(pipeline: P, run: Callable[[P, bytes], O], items: Sequence[bytes]) -> list[O | Exception]:
    out: list[O | Exception] = []
    for payload in items:
        try:
            out.append(run(pipeline, payload))
        except Exception as exc:  # per item, like one request at a time
            out.append(exc)
    return out


class Lanes(Generic[P]):
    """`first` and up to `count - 1` copies made by `clone`, each used by one thread."""

    def __init__(self, first: P, clone: Callable[[], P], count: int) -> None:
        self._first, self._clone = first, clone
        self.count = max(1, count)
        self._copies: list[P] = []
        self._pool: ThreadPoolExecutor | None = None

    def run(self, run: Callable[[P, bytes], O], payloads: Sequence[bytes]) -> list[O | Exception]:
        """`run(copy, payload)` for every payload, in order; item i goes to lane i % lanes."""
        n = min(self.count, len(payloads))
        if n <= 1:
            return _each(self._first, run, payloads)
        while len(self._copies) < n - 1:
            self._copies.append(self._clone())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.count - 1, thread_name_prefix="lane")
        pool = self._pool
        others = [
            pool.submit(_each, copy, run, payloads[i + 1 :: n])
            for i, copy in enumerate(self._copies[: n - 1])
        ]
        parts = [_each(self._first, run, payloads[0::n]), *(f.result() for f in others)]
        out: list[O | Exception] = [ValueError("unanswered")] * len(payloads)
        for lane, part in enumerate(parts):
            out[lane::n] = part
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
