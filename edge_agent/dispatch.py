"""Where each request runs: the glue between the pure policy (`offload.py`), the local runner
and the hub (`cloud.py`). Runs on the event loop; counts every decision by reason."""

import asyncio
import functools
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil

from broker.contract import InferResult
from edge_agent import offload as policy
from edge_agent.cloud import CircuitBreaker, CloudClient, CloudError, Ewma
from edge_agent.config import AgentConfig
from edge_agent.errors import Rejected
from edge_agent.hard_samples import HardSamples
from edge_agent.health import cpu_utilisation
from edge_agent.link import Outbound
from edge_agent.offload import Mode, Reason, Signals, Thresholds, Where
from edge_agent.outbox import FullPolicy, MemoryStore, Outbox, OutboxStore, SqliteStore
from edge_agent.replies import Replies
from edge_agent.runner import Done, Job, PipelineLike, Runner
from edge_agent.stats import Stats

log = logging.getLogger(__name__)

EXPLORE_AFTER_S = 2.0  # a loaded device re-measures the cloud at most this often
VOICE_HINTS = ("wakeword", "vad", "speech", "voice")


def content_type(payload: bytes, voice: bool) -> str:
    """What the hub needs to know about a raw input."""
    if payload.startswith(b"\x89PNG"):
        return "image/png"
    if payload.startswith(b"RIFF"):
        return "audio/wav"
    return "audio/L16" if voice else "image/jpeg"


def _since(job: Job) -> float:
    return (time.perf_counter() - job.arrived) * 1000.0


def default_cloud_model(model: str) -> str:
    return model.removesuffix("-lite") + "-full" if model.endswith("-lite") else model


@dataclass(frozen=True, slots=True)
class Plan:
    """How one pipeline uses the cloud."""

    mode: Mode
    cloud_model: str
    thresholds: Thresholds
    voice: bool


class LoadSampler:
    """Device CPU (over the CPUs this process may use), memory and battery, sampled
    periodically by the `load` task so that a decision costs no system call."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.mem = 0.0
        self.battery: float | None = None
        self.on_sample: Callable[[], None] | None = None  # e.g. unloading idle full models
        psutil.cpu_percent(percpu=True)  # prime

    @property
    def load(self) -> float:
        return max(self.cpu, self.mem)

    def sample(self) -> None:
        self.cpu = cpu_utilisation()
        self.mem = psutil.virtual_memory().percent / 100.0
        battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
        self.battery = None if battery is None or battery.power_plugged else battery.percent / 100

    async def run(self, interval_s: float = 0.5) -> None:
        while True:
            self.sample()
            if self.on_sample is not None:
                self.on_sample()
            await asyncio.sleep(interval_s)


PipelineLoader = Callable[[str], PipelineLike]


class FullModels:
    """Light/full switching on the device (SPEC §2: the full model when device load < 0.5 and
    the priority is high, else the light one). A high-priority pipeline's request on an idle
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


class Dispatcher:
    """Submits each job to the edge or the cloud and publishes what comes back."""

    def __init__(
        self,
        config: AgentConfig,
        runner: Runner,
        replies: Replies,
        stats: Stats,
        publish: Callable[[Outbound], None],
        reject: Callable[[str, Rejected], None],
        cloud: CloudClient | None,
        hard: HardSamples | None,
    ) -> None:
        self.runner, self.replies, self.stats = runner, replies, stats
        self._publish, self._reject = publish, reject
        self.cloud, self.hard = cloud, hard
        self.load = LoadSampler()
        base = Thresholds(**config.offload.policy)
        self.plans: dict[str, Plan] = {}
        for model, pc in config.offload.pipelines.items():
            t = base
            if pc.uncertain is not None:
                t = replace(base, uncertain_low=pc.uncertain[0], uncertain_high=pc.uncertain[1])
            voice = any(h in model for h in VOICE_HINTS)
            cloud_model = pc.cloud_model or default_cloud_model(model)
            self.plans[model] = Plan(Mode(pc.mode), cloud_model, t, voice)
        full_of = {
            model: pc.local_full_model or default_cloud_model(model)
            for model, pc in config.offload.pipelines.items()
            if pc.priority == "high"
        }
        self.full: FullModels | None = None
        if full_of:
            self.full = FullModels(
                runner,
                functools.partial(load_full_pipeline, model_dir=config.model_dir),
                full_of,
                base,
                idle_s=config.offload.full_model_idle_s,
            )
            self.load.on_sample = self.full.sweep
        self.local_ms: dict[str, Ewma] = {}
        self.wait_ms: dict[str, Ewma] = {}
        self.previous: dict[str, Where] = {}
        self.answers = 0
        self.cloud_answers = 0
        self._tasks: set[asyncio.Future[Any]] = set()

    # --- signals -----------------------------------------------------------------------------
    def signals(self, model: str, plan: Plan) -> Signals:
        cloud = self.cloud
        local, wait = self.local_ms.get(model), self.wait_ms.get(model)
        local_stale = local is not None and local.stale()
        cloud_ms, stale = None, False
        if cloud is not None:
            cloud_ms = cloud.cost_ms(plan.cloud_model)
            stale = cloud.stale(plan.cloud_model, EXPLORE_AFTER_S)
        return Signals(
            cpu=self.load.cpu,
            mem=self.load.mem,
            queue_wait_ms=(wait.value or 0.0) if wait else 0.0,
            local_ms=local.value if local else None,
            cloud_ms=cloud_ms,
            rtt_ms=cloud.net.value if cloud is not None else None,
            cloud_available=cloud is not None and cloud.available(),
            battery=self.load.battery,
            voice=plan.voice,
            cloud_stale=stale,
            local_stale=local_stale,
        )

    @property
    def offload_ratio(self) -> float:
        return self.cloud_answers / self.answers if self.answers else 0.0

    def _count(self, decision: policy.Decision) -> None:
        self.stats.count(decision.counter)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- before running ----------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Edge (the runner's queue; may raise Rejected) or cloud (an async call)."""
        if self.full is not None:
            self.full.route(job, self.load.load)
        plan = self.plans.get(job.model)
        if plan is None or plan.mode is Mode.EDGE or self.cloud is None:
            self.runner.submit(job)
            return
        decision = policy.decide(
            plan.mode, self.signals(job.model, plan), plan.thresholds, self.previous.get(job.model)
        )
        if plan.mode is Mode.ADAPTIVE:
            self.previous[job.model] = decision.where
        if decision.where is Where.EDGE:
            self.runner.submit(job)
            if plan.mode is not Mode.CASCADE:
                self._count(decision)
            return
        self._count(decision)
        self._spawn(self._offload(job, plan))

    async def _offload(self, job: Job, plan: Plan) -> None:
        assert self.cloud is not None
        ctype = content_type(job.payload, plan.voice)
        try:
            answer = await self.cloud.infer(plan.cloud_model, job.payload, ctype, job.rid)
        except CloudError as exc:
            log.debug("offload of %s failed, running locally: %s", job.model, exc)
            self.stats.count("offload.fallback")
            try:
                self.runner.submit(job)
            except Rejected as rejected:
                self._reject(job.source_topic, rejected)
            return
        self._answer_cloud(job, answer.result, _since(job), None)

    def _answer_cloud(
        self, job: Job, cloud_result: InferResult, latency_ms: float, edge_conf: float | None
    ) -> None:
        result = InferResult(
            model=cloud_result.model,
            model_version=cloud_result.model_version,
            where="cloud",
            latency_ms=round(latency_ms, 3),
            output=cloud_result.output,
            rid=job.rid,
            msg_id=uuid.uuid4().hex,
            source_topic=job.source_topic,
            edge_confidence=edge_conf,
            cloud_confidence=policy.confidence_of(cloud_result.output),
        )
        self.answers += 1
        self.cloud_answers += 1
        self.stats.infer_ms(latency_ms)
        for message in self.replies.messages(job, result):
            self._publish(message)

    # --- after the local model answered ------------------------------------------------------
    def done(self, done: Done) -> bool:
        """Account a local answer; True when cascade takes it over (publishes later)."""
        model = done.job.model
        if done.error is None:
            fresh = functools.partial(Ewma, stale_after_s=EXPLORE_AFTER_S)
            self.local_ms.setdefault(model, fresh()).add(done.compute_ms)
            self.wait_ms.setdefault(model, fresh()).add(max(0.0, done.latency_ms - done.compute_ms))
        plan = self.plans.get(model)
        if done.error is not None or plan is None or plan.mode is not Mode.CASCADE:
            self.answers += done.error is None
            return False
        confidence = done.confidence if done.confidence is not None else 1.0
        signals = self.signals(model, plan)
        decision = policy.second_opinion(confidence, signals, plan.thresholds)
        self._count(decision)
        if decision.where is Where.CLOUD:
            self._spawn(self._second_opinion(done, plan, confidence))
            return True
        self.answers += 1
        if decision.reason is not Reason.CONFIDENT:  # unsure, and the cloud is away
            self._keep_hard(done, confidence)
        return False

    async def _second_opinion(self, done: Done, plan: Plan, confidence: float) -> None:
        assert self.cloud is not None
        job = done.job
        ctype = content_type(job.payload, plan.voice)
        try:
            answer = await self.cloud.infer(plan.cloud_model, job.payload, ctype, job.rid)
        except CloudError as exc:
            log.debug("cascade: cloud unavailable (%s); answering from the edge", exc)
            self.stats.count("offload.edge.cloud_failed")
            self.answers += 1
            self._keep_hard(done, confidence)
            for message in done.replies:
                self._publish(message)
            return
        self._answer_cloud(job, answer.result, _since(job), confidence)

    def _keep_hard(self, done: Done, confidence: float) -> None:
        hard = self.hard
        if hard is None:
            return
        meta = {"confidence": confidence, "rid": done.job.rid, "source": done.job.source_topic}
        self.stats.count("hard_samples.saved")
        self._spawn(asyncio.to_thread(hard.save, done.job.model, done.job.payload, meta))


def load_full_pipeline(model: str, model_dir: Path | None = None) -> PipelineLike:
    """A full model for on-demand use (runs in a thread: imports and file checks take time)."""
    from models.catalogue import load_catalogue
    from models.pipelines import load_pipeline

    pipeline: PipelineLike = load_pipeline(model, load_catalogue(), model_dir)
    return pipeline


def state_dir() -> Path:
    """Where the agent keeps its outbox and hard samples by default."""
    env = os.environ.get("EDGEFLEET_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "edgefleet"


def make_cloud(config: AgentConfig) -> CloudClient | None:
    """The hub client, when the config names a hub and some pipeline may use it."""
    url = config.hub.url
    if url is None or not any(p.mode != "edge" for p in config.offload.pipelines.values()):
        return None
    o = config.offload
    auth = config.hub_auth
    return CloudClient(
        url,
        auth[0] if auth else config.device_id,
        auth[1] if auth else None,
        timeout_s=o.timeout_s,
        breaker=CircuitBreaker(o.breaker_failures, o.breaker_cooldown_s),
    )


def make_hard_samples(config: AgentConfig) -> HardSamples | None:
    if not any(p.mode == "cascade" for p in config.offload.pipelines.values()):
        return None
    directory = config.offload.hard_samples_dir
    directory = directory or state_dir() / f"hard-samples-{config.device_id}"
    return HardSamples(directory, config.offload.hard_samples_max)


def make_outbox(config: AgentConfig) -> Outbox:
    c = config.outbox
    policy_ = FullPolicy(c.full_policy)
    store: OutboxStore
    if c.memory:
        store = MemoryStore(c.max_messages, policy_)
    else:
        path = c.path or state_dir() / f"outbox-{config.device_id}.sqlite"
        store = SqliteStore(path, c.max_messages, policy_)
    return Outbox(store, window=c.window, ack_timeout_s=c.ack_timeout_s)


def hub_acks(config: AgentConfig) -> bool:
    """Whether outbox entries wait for the hub's `{d}/ack` (else the broker's PUBACK)."""
    mode = config.outbox.ack
    return mode == "hub" or (mode == "auto" and config.hub.url is not None)
