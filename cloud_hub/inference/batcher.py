"""One worker per model takes whatever queued while it was busy, in one hop to its thread.

An idle hub adds no waiting (a lone request runs at once); under load, requests that arrive
while a batch runs are taken together as the next batch, up to `max_batch`, in one hop to the
model's own thread. A pipeline with `run_batch(payloads)` gets the whole batch (the cloud face
detector, models/pipelines/face_ensemble.py, runs the images' HOG passes on every core at
once; the engine models run a batch's readings through one invoke); otherwise the stages run
per item in that thread (a pipeline is used by one thread at a time), which saves loop hops,
not compute.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cloud_hub.core.errors import Unavailable
from cloud_hub.core.metrics import HubMetrics

log = logging.getLogger(__name__)
PipelineLoader = Callable[[str], Any]


@dataclass(frozen=True)
class Outcome:
    output: BaseModel
    model_version: str
    latency_ms: float
    batch_size: int


@dataclass
class _Job:
    payload: bytes
    enqueued: float
    future: asyncio.Future[Outcome]


class ModelWorker:
    """Owns one pipeline instance, its thread and its queue."""

    def __init__(
        self,
        model_id: str,
        loader: PipelineLoader,
        *,
        max_batch: int,
        queue_max: int,
        metrics: HubMetrics,
    ) -> None:
        self.model_id, self.loader, self.metrics = model_id, loader, metrics
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_max)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{model_id}")
        self._pipeline: Any = None
        self._task: asyncio.Task[None] | None = None
        self.warm_up: str = "loading"  # then "ok", or why the load at start failed, until a
        # request's load succeeds (readiness: /readyz)

    def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=f"infer-{self.model_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            self._queue.get_nowait().future.cancel()
        self._thread.shutdown(wait=True, cancel_futures=True)
        close = getattr(self._pipeline, "close", None)
        if close is not None:  # its own threads (lanes, the ensemble's HOG pool)
            close()

    async def load(self) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._load)

    def _load(self) -> Any:
        if self._pipeline is None:
            self._pipeline = self.loader(self.model_id)
            self.warm_up = "ok"
        return self._pipeline

    async def submit(self, payload: bytes) -> Outcome:
        job = _Job(payload, time.perf_counter(), asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Unavailable(
                f"model {self.model_id} is overloaded; retry later", code="overloaded"
            ) from None
        return await job.future

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:  # warm up: the first offload must not pay for loading the model (devices
            await self.load()  # estimate the cloud's cost from the hub's Server-Timing)
        except Exception as exc:  # a request will try again and report it
            log.warning("model %s did not load at start: %r", self.model_id, exc)
            self.warm_up = f"error: {type(exc).__name__}"
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self.metrics.infer_batch.labels(self.model_id).observe(len(batch))
            try:
                results = await loop.run_in_executor(
                    self._thread, self._run_batch, [j.payload for j in batch]
                )
            except Exception as exc:  # loading failed: every job in the batch gets it
                results = [exc] * len(batch)
            done = time.perf_counter()
            for job, result in zip(batch, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(
                        Outcome(
                            result,
                            str(self._pipeline.version),
                            (done - job.enqueued) * 1000,
                            len(batch),
                        )
                    )

    def _run_batch(self, payloads: list[bytes]) -> list[BaseModel | Exception]:
        pipeline = self._load()
        if hasattr(pipeline, "run_batch"):
            try:
                return list(pipeline.run_batch(payloads))
            except Exception as exc:
                return [exc] * len(payloads)
        out: list[BaseModel | Exception] = []
        for payload in payloads:
            try:
                out.append(pipeline.run(payload))
            except Exception as exc:  # InputError and friends are per request
                out.append(exc)
        return out
