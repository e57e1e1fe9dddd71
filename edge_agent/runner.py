"""Inference off the event loop: per model a bounded queue and workers, each worker with its own
pipeline instance and single-thread executor (TFLite interpreters are not thread-safe).

A worker hands up to `prefetch` jobs to its thread without waiting for the previous one to be
published, so the thread computes back to back while the loop does MQTT I/O (pipelining). The
whole per-request tail (run, latency, encoding the reply) happens in the worker thread; the
loop only receives the ready-to-publish messages.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from broker.contract import ErrorCode
from edge_agent.errors import Rejected
from edge_agent.link import Outbound
from edge_agent.offload import confidence_of

log = logging.getLogger(__name__)


class PipelineLike(Protocol):
    """What the agent needs of a `models.pipelines.Pipeline`."""

    model_id: str
    version: str

    def run(self, payload: bytes) -> BaseModel: ...


@dataclass(slots=True)
class Job:
    """One accepted inference request."""

    model: str
    rid: str | None
    source_topic: str
    payload: bytes
    arrived: float  # time.perf_counter() at arrival
    response_topic: str | None = None
    correlation: bytes | None = None


@dataclass(slots=True)
class Done:
    """What a worker produced for a job: messages to publish, or the reason it was rejected."""

    job: Job
    replies: list[Outbound] = field(default_factory=list)
    error: Rejected | None = None
    compute_ms: float = 0.0  # pipeline.run() alone
    latency_ms: float = 0.0  # arrival -> result ready, queueing included
    confidence: float | None = None  # the model's confidence in its answer (cascade)


# Runs in the worker thread: (job, pipeline, output, latency_ms) -> messages to publish.
Encoder = Callable[[Job, PipelineLike, BaseModel, float], list[Outbound]]


def _compute(pipeline: PipelineLike, encode: Encoder, job: Job) -> Done:
    start = time.perf_counter()
    try:
        output = pipeline.run(job.payload)
        ready = time.perf_counter()
        latency_ms = (ready - job.arrived) * 1000.0
        replies = encode(job, pipeline, output, latency_ms)
    except Exception as exc:  # bad input must never kill a worker
        code = getattr(exc, "code", None)
        if not isinstance(code, ErrorCode):
            log.exception("pipeline %s failed", job.model)
            code = ErrorCode.INTERNAL
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return Done(job, error=Rejected(code, str(message), job.rid))
    return Done(
        job,
        replies,
        compute_ms=(ready - start) * 1000.0,
        latency_ms=latency_ms,
        confidence=confidence_of(output),
    )


class Worker:
    """Feeds one pipeline instance, on its own thread, from the model's queue."""

    def __init__(
        self,
        pipeline: PipelineLike,
        queue: "asyncio.Queue[Job]",
        encode: Encoder,
        on_done: Callable[[Done], None],
        prefetch: int = 2,
    ) -> None:
        self._pipeline = pipeline
        self._queue = queue
        self._compute = functools.partial(_compute, pipeline, encode)
        self._on_done = on_done
        self._slots = asyncio.Semaphore(prefetch)
        self.in_flight = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{self._pipeline.model_id}")
        try:
            while True:
                await self._slots.acquire()
                job = await self._queue.get()
                self.in_flight += 1
                future = loop.run_in_executor(executor, self._compute, job)
                future.add_done_callback(self._finished)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    def _finished(self, future: "asyncio.Future[Done]") -> None:
        self.in_flight -= 1
        self._slots.release()
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:  # pragma: no cover - _compute catches everything
            log.error("worker failed: %r", exc)
            return
        self._on_done(future.result())


class Runner:
    """All loaded models: admission (bounded queues) and the workers that drain them."""

    def __init__(
        self,
        pipelines: Mapping[str, Sequence[PipelineLike]],
        *,
        queue_limit: int,
        encode: Encoder,
        on_done: Callable[[Done], None],
        prefetch: int = 2,
    ) -> None:
        self.pipelines = {m: list(p) for m, p in pipelines.items()}
        self._queues: dict[str, asyncio.Queue[Job]] = {
            m: asyncio.Queue(maxsize=queue_limit) for m in self.pipelines
        }
        self._workers = {
            m: [Worker(p, self._queues[m], encode, on_done, prefetch) for p in ps]
            for m, ps in self.pipelines.items()
        }

    @property
    def models(self) -> list[str]:
        return list(self.pipelines)

    def version(self, model: str) -> str:
        return self.pipelines[model][0].version

    def submit(self, job: Job) -> None:
        """Queue a job; raise Rejected(overloaded) if the model's queue is full."""
        queue = self._queues.get(job.model)
        if queue is None:
            raise Rejected(ErrorCode.UNKNOWN_MODEL, f"model {job.model!r} is not loaded", job.rid)
        try:
            queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Rejected(
                ErrorCode.OVERLOADED,
                f"model {job.model!r} has {queue.qsize()} requests waiting",
                job.rid,
            ) from None

    def queued(self) -> int:
        """Requests waiting for a worker."""
        return sum(q.qsize() for q in self._queues.values())

    def depth(self) -> int:
        """Requests accepted but not finished: queued plus being computed."""
        return self.queued() + sum(w.in_flight for ws in self._workers.values() for w in ws)

    def workers(self) -> list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]]:
        """(task name, coroutine factory) per worker, for the agent to run as named tasks."""
        return [
            (f"worker:{m}:{i}", w.run) for m, ws in self._workers.items() for i, w in enumerate(ws)
        ]
