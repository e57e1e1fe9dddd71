"""Device load and what it decides on the device itself: CPU, memory and battery sampled by the
`load` task, and light/full model switching (a high-priority pipeline's full variant loaded on
demand while the device is idle, unloaded when unused)."""

import asyncio
import functools
import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from contract.ids import full_model
from edge_agent import offload as policy
from edge_agent.config import AgentConfig
from edge_agent.health import cpu_utilisation
from edge_agent.offload import Thresholds
from edge_agent.runner import Job, PipelineLike, Runner

log = logging.getLogger(__name__)


class LoadSampler:
    """Device CPU (over the CPUs this process may use), memory and battery, sampled
    periodically by the `load` task so that a decision costs no system call.

    psutil is imported by the task, in a thread, one interval after start: its ~20 ms import
    stays out of the agent's cold start (docs/benchmarks.md). Until the first sample the
    device counts as idle."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.mem = 0.0
        self.battery: float | None = None
        self.on_sample: Callable[[], None] | None = None  # e.g. unloading idle full models

    @property
    def load(self) -> float:
        return max(self.cpu, self.mem)

    def sample(self) -> None:
        import psutil

        self.cpu = cpu_utilisation()
        self.mem = psutil.virtual_memory().percent / 100.0
        battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
        self.battery = None if battery is None or battery.power_plugged else battery.percent / 100

    async def run(self, interval_s: float = 0.5) -> None:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(importlib.import_module, "psutil")  # ~20 ms, off the loop
        import psutil  # loaded: a lookup

        psutil.cpu_percent(percpu=True)  # prime: the first reading is meaningless
        while True:
            await asyncio.sleep(interval_s)
            self.sample()
            if self.on_sample is not None:
                self.on_sample()


PipelineLoader = Callable[[str], PipelineLike]


class FullModels:
    """Light/full switching on the device (docs/offload.md: the full model when device load < 0.5
    and the priority is high, else the light one). A high-priority pipeline's request on an idle
    device runs on its full variant; the first such request loads it in a thread (the request
    itself still runs on the light model), and a full model without requests for `idle_s`
    is unloaded by `sweep()` (called after every load sample)."""

    def __init__(
        self,
        runner: Runner,
        loader: PipelineLoader,
        full_of: dict[str, str],  # light model -> its full variant, high-priority pipelines
        thresholds: Thresholds,
        *,
        idle_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner, self.loader, self.full_of = runner, loader, full_of
        self.thresholds, self.idle_s, self._clock = thresholds, idle_s, clock
        self.used: dict[str, float] = {}  # full model -> last request routed to it
        self.loading: dict[str, asyncio.Future[PipelineLike]] = {}
        self.loads = 0
        self.unloads = 0

    def route(self, job: Job, load: float) -> None:
        """Point `job` at the full variant when the rule says so and it is loaded."""
        full = self.full_of.get(job.model)
        if full is None or not policy.want_full_model(load, True, self.thresholds):
            return
        self.used[full] = self._clock()
        if self.runner.loaded(full):
            job.run_on = full
        elif full not in self.loading:
            future = asyncio.ensure_future(asyncio.to_thread(self.loader, full))
            self.loading[full] = future
            future.add_done_callback(functools.partial(self._loaded, full))

    def _loaded(self, model: str, future: "asyncio.Future[PipelineLike]") -> None:
        self.loading.pop(model, None)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            log.warning("cannot load the full model %s: %s", model, exc)
            return
        self.runner.add_model(model, future.result())
        self.loads += 1
        log.info("loaded the full model %s on demand", model)

    def sweep(self) -> None:
        """Unload full models idle for `idle_s` (those still busy: at the next sweep)."""
        now = self._clock()
        for model, last in list(self.used.items()):
            if now - last >= self.idle_s and self.runner.remove_model(model):
                del self.used[model]
                self.unloads += 1
                log.info("unloaded the idle full model %s", model)


def load_full_pipeline(model: str, model_dir: Path | None = None) -> PipelineLike:
    """A full model for on-demand use (runs in a thread: imports and file checks take time)."""
    from models.catalogue import load_catalogue
    from models.pipelines import load_pipeline

    pipeline: PipelineLike = load_pipeline(model, load_catalogue(model_dir=model_dir), model_dir)
    return pipeline


def make_full_models(config: AgentConfig, runner: Runner, base: Thresholds) -> FullModels | None:
    """Light/full switching for the high-priority pipelines of `config` (None: there are none)."""
    full_of = {
        model: pc.local_full_model or full_model(model)
        for model, pc in config.offload.pipelines.items()
        if pc.priority == "high"
    }
    if not full_of:
        return None
    loader = functools.partial(load_full_pipeline, model_dir=config.model_dir)
    return FullModels(runner, loader, full_of, base, idle_s=config.offload.full_model_idle_s)
