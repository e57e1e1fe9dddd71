"""Inference off the event loop: per model a bounded queue and workers, each worker with its own
pipeline instance and thread (TFLite interpreters are not thread-safe).

The queue lives on the thread side (a deque under a condition variable): a worker thread takes
its next job itself, without an event-loop round trip per job, and computes back to back while
the loop does MQTT I/O. The whole per-request tail (run, latency, encoding the reply) happens in
the worker thread; finished jobs are handed back to the loop in batches (one wake-up of the loop
for whatever finished since the last one), to `on_done`: the request's owner (`Dispatcher.done`).

Admission: a model accepts `prefetch` jobs per worker (handed to its worker) plus `queue_limit`
waiting ones; beyond that `submit` raises Rejected(overloaded).
"""

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from contract import ErrorCode
from edge_agent.cascade import confidence_of
from edge_agent.errors import Rejected
from edge_agent.messages import Outbound

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
    run_on: str | None = None  # another loaded model answering for `model` (its full variant)
    shadow: bool = False  # a copy run only to measure this side (offload policy): not published
    peer_request: bool = False  # from a device of the site (a gateway's work): run and answer here
    # Told on the loop, once, what answered the request: the output (edge or cloud) or None for
    # an error. The agent's own sensors use it (one frame of a camera in flight at a time).
    on_answer: Callable[[dict[str, Any] | None], None] | None = None

    @property
    def queue(self) -> str:
        return self.run_on or self.model


@dataclass(slots=True)
class Done:
    """What a worker produced for a job: messages to publish, or the reason it was rejected."""

    job: Job
    replies: list[Outbound] = field(default_factory=list)
    error: Rejected | None = None
    compute_ms: float = 0.0  # pipeline.run() alone
    latency_ms: float = 0.0  # arrival -> result ready, queueing included
    output: BaseModel | None = None  # the model's answer: what cascade merges with the cloud's
    version: str = ""  # of the model that answered (a cascade tells the hub, hard samples)

    @property
    def confidence(self) -> float | None:
        """The model's confidence in its answer (cascade; None without one)."""
        return None if self.output is None else confidence_of(self.output)


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
        output=output,
        version=str(getattr(pipeline, "version", "")),
    )


class _Jobs:
    """One model's jobs, shared by its worker threads: FIFO under a condition variable."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.items: deque[Job] = deque()
        self.closed = False

    def put(self, job: Job) -> None:
        with self.cond:
            self.items.append(job)
            self.cond.notify()

    def take(self, most: int) -> list[Job]:
        """Block until there is work; take up to `most` jobs ([] once closed)."""
        with self.cond:
            while not self.items and not self.closed:
                self.cond.wait()
            if self.closed:
                return []
            n = min(most, len(self.items))
            return [self.items.popleft() for _ in range(n)]

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class Worker:
    """One pipeline instance on its own thread, fed from the model's thread-side queue."""

    def __init__(
        self,
        pipeline: PipelineLike,
        jobs: _Jobs,
        encode: Encoder,
        deliver: Callable[[Done], None],
        batch: int = 2,
    ) -> None:
        self._pipeline = pipeline
        self._jobs = jobs
        self._compute = functools.partial(_compute, pipeline, encode)
        self._deliver = deliver
        self._batch = max(1, batch)
        self.thread: threading.Thread | None = None

    def _loop(self) -> None:
        while batch := self._jobs.take(self._batch):
            for job in batch:
                self._deliver(self._compute(job))

    def start(self) -> None:
        """Start the thread unless it runs."""
        if self.thread is None or not self.thread.is_alive():
            name = f"infer-{self._pipeline.model_id}"
            self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
            self.thread.start()

    async def run(self) -> None:
        """Start the thread (once) and keep it until cancelled."""
        self.start()
        try:
            await asyncio.Event().wait()  # until cancelled (agent shutdown)
        finally:
            self._jobs.close()  # the thread ends after its current job


class _Results:
    """Finished jobs from worker threads to the loop: one loop wake-up per burst, not per job."""

    def __init__(self, on_done: Callable[[Done], None]) -> None:
        self._on_done = on_done
        self._lock = threading.Lock()
        self._items: list[Done] = []
        self._scheduled = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.delivered = 0  # jobs handed to on_done (the loop thread only)

    def put(self, done: Done) -> None:  # worker threads
        with self._lock:
            self._items.append(done)
            if self._scheduled:
                return
            self._scheduled = True
        assert self.loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:  # the loop
        with self._lock:
            items, self._items, self._scheduled = self._items, [], False
        for done in items:
            self.delivered += 1
            try:
                self._on_done(done)
            except Exception:
                log.exception("handling a result of %s failed", done.job.model)


class Runner:
    """All loaded models: admission (bounded queues) and the workers that drain them."""

    def __init__(
        self,
        pipelines: Mapping[str, Sequence[PipelineLike]],
        *,
        queue_limit: int,
        encode: Encoder,
        on_done: Callable[[Done], None] | None = None,
        prefetch: int = 2,
    ) -> None:
        self.pipelines = {m: list(p) for m, p in pipelines.items()}
        self._prefetch = max(1, prefetch)
        self._queue_limit = queue_limit
        self._jobs = {m: _Jobs() for m in self.pipelines}
        self._accepted = dict.fromkeys(self.pipelines, 0)  # accepted, not yet delivered
        self._results = _Results(self._delivered)
        self.on_done = on_done  # who takes each finished job; wired once, before any submit
        self._encode = encode
        self._workers = {
            m: [Worker(p, self._jobs[m], encode, self._results.put, prefetch) for p in ps]
            for m, ps in self.pipelines.items()
        }

    @property
    def models(self) -> list[str]:
        return list(self.pipelines)

    def version(self, model: str) -> str:
        return self.pipelines[model][0].version

    def _handed(self, model: str) -> int:
        return self._prefetch * len(self._workers[model])

    def submit(self, job: Job) -> None:
        """Queue a job; raise Rejected(overloaded) if the model's queue is full."""
        key = job.queue
        jobs = self._jobs.get(key)
        if jobs is None:
            raise Rejected(ErrorCode.UNKNOWN_MODEL, f"model {key!r} is not loaded", job.rid)
        accepted = self._accepted[key]
        if accepted >= self._handed(key) + self._queue_limit:
            raise Rejected(
                ErrorCode.OVERLOADED,
                f"model {key!r} has {accepted - self._handed(key)} requests waiting",
                job.rid,
            )
        if self._results.loop is None:
            self._results.loop = asyncio.get_running_loop()
        self._accepted[key] = accepted + 1
        jobs.put(job)

    def _delivered(self, done: Done) -> None:
        self._accepted[done.job.queue] -= 1
        if self.on_done is None:
            log.error("a finished job of %s has no owner; dropped", done.job.model)
            return
        self.on_done(done)

    # --- models loaded on demand (the full variant of a light model) --------------------------
    def add_model(self, model: str, pipeline: PipelineLike) -> None:
        """Serve `model` from now on (one worker, its thread started here, on the loop)."""
        if model in self._jobs:
            return
        if self._results.loop is None:
            self._results.loop = asyncio.get_running_loop()
        self._jobs[model] = jobs = _Jobs()
        self._accepted[model] = 0
        worker = Worker(pipeline, jobs, self._encode, self._results.put, self._prefetch)
        self._workers[model] = [worker]
        self.pipelines[model] = [pipeline]
        worker.start()

    def remove_model(self, model: str) -> bool:
        """Stop serving `model` once nothing of it is pending; False while busy (retry)."""
        if model not in self._jobs or self._accepted[model]:
            return False
        self._jobs.pop(model).close()  # its thread ends; the pipeline goes with it
        del self._accepted[model], self._workers[model], self.pipelines[model]
        return True

    def loaded(self, model: str) -> bool:
        return model in self._jobs

    def queued(self) -> int:
        """Requests waiting beyond those handed to the workers (`prefetch` per worker)."""
        return sum(max(0, n - self._handed(m)) for m, n in self._accepted.items())

    def pending(self, model: str) -> int:
        """`model`'s requests accepted but not finished, per worker: the queue a new one joins."""
        workers = len(self._workers.get(model, ())) or 1
        return self._accepted.get(model, 0) // workers

    def idle_workers(self) -> int:
        """Workers with nothing accepted for them, all models (a gateway's `workers_free`)."""
        return sum(max(0, len(ws) - self._accepted.get(m, 0)) for m, ws in self._workers.items())

    def depth(self) -> int:
        """Requests accepted but not finished: queued plus being computed."""
        return sum(self._accepted.values())

    def workers(self) -> list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]]:
        """(task name, coroutine factory) per worker, for the agent to run as named tasks."""
        return [
            (f"worker:{m}:{i}", w.run) for m, ws in self._workers.items() for i, w in enumerate(ws)
        ]

    def close(self) -> None:
        """Let the worker threads end (each after its current job)."""
        for jobs in self._jobs.values():
            jobs.close()
