"""Light/full switching on the device: load the full model on demand for a high-priority
pipeline on an idle device, use it while the device stays idle, unload it when unused."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from edge_agent.load import FullModels
from edge_agent.messages import Outbound
from edge_agent.offload import Thresholds
from edge_agent.runner import Done, Job, PipelineLike, Runner
from tests.edge_agent.fakes import FakePipeline


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def encode(
    job: Job, pipeline: PipelineLike, output: BaseModel, latency_ms: float
) -> list[Outbound]:
    return [Outbound(f"{job.model}<-{pipeline.model_id}", b"")]  # who answered for what


class Harness:
    def __init__(self) -> None:
        self.results: asyncio.Queue[Done] = asyncio.Queue()
        self.runner = Runner(
            {"cam-lite": [FakePipeline("cam-lite")]},
            queue_limit=4,
            encode=encode,
            on_done=self.results.put_nowait,
        )
        self.loads: list[str] = []
        self.clock = Clock()
        self.full = FullModels(
            self.runner,
            self.load,
            {"cam-lite": "cam-full"},
            Thresholds(),
            idle_s=10.0,
            clock=self.clock,
        )
        self._seq = 0

    def load(self, model: str) -> PipelineLike:  # runs in a thread, like the real loader
        self.loads.append(model)
        return FakePipeline(model)

    async def ask(self, load: float, model: str = "cam-lite") -> str:
        """Route and run one request at device load `load`; returns who answered."""
        self._seq += 1
        job = Job(model, f"r{self._seq}", "t", b"face", time.perf_counter())
        self.full.route(job, load)
        self.runner.submit(job)
        done = await asyncio.wait_for(self.results.get(), 5)
        assert done.error is None
        return done.replies[0].topic

    async def until_loaded(self, model: str) -> None:
        for _ in range(500):  # bounded: the loader runs in a thread
            if self.runner.loaded(model):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{model} not loaded")


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    tasks = [asyncio.create_task(factory()) for _, factory in h.runner.workers()]
    yield h
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    h.runner.close()


async def test_full_model_on_demand_then_unloaded_when_idle(harness: Harness) -> None:
    h = harness
    # idle device, high priority: the first request triggers the load and runs light
    assert await h.ask(load=0.2) == "cam-lite<-cam-lite"
    await h.until_loaded("cam-full")
    assert h.loads == ["cam-full"]
    # ... the next ones run on the full model, answering for the light pipeline's topic
    assert await h.ask(load=0.2) == "cam-lite<-cam-full"
    # a busy device (load >= 0.5, docs/offload.md) gets the light model, the full stays loaded
    assert await h.ask(load=0.7) == "cam-lite<-cam-lite"
    assert h.runner.loaded("cam-full")
    # unused for less than idle_s: kept; then unloaded
    h.clock.now += 9.0
    h.full.sweep()
    assert h.runner.loaded("cam-full")
    h.clock.now += 1.0
    h.full.sweep()
    assert not h.runner.loaded("cam-full")
    assert (h.full.loads, h.full.unloads) == (1, 1)
    assert h.runner.depth() == 0
    # needed again: loaded again
    assert await h.ask(load=0.1) == "cam-lite<-cam-lite"
    await h.until_loaded("cam-full")
    assert await h.ask(load=0.1) == "cam-lite<-cam-full"
    assert h.loads == ["cam-full", "cam-full"]


async def test_busy_full_model_is_not_unloaded(harness: Harness) -> None:
    h = harness
    await h.ask(load=0.2)
    await h.until_loaded("cam-full")
    full = h.runner.pipelines["cam-full"][0]
    assert isinstance(full, FakePipeline)
    job = Job("cam-lite", "held", "t", b"hold", time.perf_counter(), run_on="cam-full")
    h.runner.submit(job)
    assert await asyncio.to_thread(full.entered.wait, 5)
    h.clock.now += 60.0
    h.full.sweep()
    assert h.runner.loaded("cam-full")  # a request is still running on it
    full.release.set()
    assert (await asyncio.wait_for(h.results.get(), 5)).job.rid == "held"
    h.full.sweep()
    assert not h.runner.loaded("cam-full")


async def test_normal_priority_and_failed_loads_stay_light(harness: Harness) -> None:
    h = harness

    def broken(model: str) -> PipelineLike:
        raise OSError("model file missing")

    h.full.loader = broken
    assert await h.ask(load=0.1) == "cam-lite<-cam-lite"
    for _ in range(500):  # bounded: wait for the failed load to be accounted
        if not h.full.loading:
            break
        await asyncio.sleep(0.01)
    assert not h.runner.loaded("cam-full")
    assert await h.ask(load=0.1) == "cam-lite<-cam-lite"  # tries again, still light
    h.full.full_of = {}  # no high-priority pipeline
    assert await h.ask(load=0.1) == "cam-lite<-cam-lite"


async def test_dispatcher_wires_high_priority_pipelines(harness: Harness) -> None:
    from contract import Topics
    from contract.ids import full_model
    from edge_agent.config import parse_config
    from edge_agent.dispatch import Dispatcher
    from edge_agent.replies import Replies
    from edge_agent.stats import Stats

    config = parse_config(
        {
            "device_id": "cam",
            "models": ["face-detect-lite", "wakeword-lite"],
            "offload": {
                "pipelines": {"face-detect-lite": {"priority": "high"}},
                "full_model_idle_s": 30,
            },
        }
    )
    dispatch = Dispatcher(
        config,
        harness.runner,
        Replies(Topics(), "cam", "test"),
        Stats(),
        lambda m: None,
        None,
        None,
    )
    assert dispatch.full is not None
    assert dispatch.full.full_of == {"face-detect-lite": full_model("face-detect-lite")}
    assert dispatch.full.idle_s == 30
    assert dispatch.load.on_sample == dispatch.full.sweep
    plain = parse_config({"device_id": "cam", "models": ["face-detect-lite"]})
    assert (
        Dispatcher(plain, harness.runner, Replies(Topics(), "cam", "t"), Stats(),
                   lambda m: None, None, None).full
        is None
    )  # fmt: skip
