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

from contract import InferResult
from edge_agent import cascade
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

EXPLORE_AFTER_S = 2.0  # a side unused this long is re-measured by a shadow copy of a request
CLOUD_EXPLORE_MAX_S = 16.0  # ... the cloud, when far slower than the edge, up to this long
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
    rescue: cascade.Rescue | None = None  # cascade on wake-word outputs; None: the band rule


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
            words = cascade.DEFAULT_RESCUE_WORDS if pc.rescue_words is None else pc.rescue_words
            rescue = cascade.Rescue(tuple(words), pc.rescue_min_probability) if words else None
            self.plans[model] = Plan(Mode(pc.mode), cloud_model, t, voice, rescue)
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
        # per model, measured alike on both sides: arrival -> answer ready (docs/offload.md)
        self.edge_ms: dict[str, Ewma] = {}
        self.cloud_ms: dict[str, Ewma] = {}
        self.service_ms: dict[str, Ewma] = {}  # pipeline.run() alone: what each queued job adds
        self.previous: dict[str, Where] = {}
        self._shadow_after: dict[int, Plan] = {}  # id(job) -> its plan: shadow-run once answered
        self._shadowing: set[str] = set()  # models with a shadow run planned or in flight
        self.answers = 0
        self.cloud_answers = 0
        self._tasks: set[asyncio.Future[Any]] = set()

    # --- signals -----------------------------------------------------------------------------
    def _edge_expected(self, model: str) -> float | None:
        """Time to a local answer for a request arriving now: the measured arrival -> answer,
        plus one service time per request already waiting for the model."""
        latency, service = self.edge_ms.get(model), self.service_ms.get(model)
        if latency is None or latency.value is None:
            return None
        per_job = service.value if service is not None and service.value is not None else 0.0
        return latency.value + self.runner.pending(model) * per_job

    @staticmethod
    def _cloud_stale(via_cloud: Ewma | None, edge_ms: float | None) -> bool:
        """Whether to re-measure the cloud: after 2 s, stretched by how much slower than the
        edge it last was (up to 16 s). A shadow upload costs bytes and the hub's time, and a
        cloud 300 ms behind a 5 ms edge is not about to win; one almost as fast is checked
        often. (The edge is re-measured every 2 s: it is what recovers when a load ends.)"""
        if via_cloud is None or via_cloud.value is None:
            return True
        ratio = via_cloud.value / edge_ms if edge_ms else 1.0
        wait = min(CLOUD_EXPLORE_MAX_S, EXPLORE_AFTER_S * max(1.0, ratio))
        return via_cloud.age() > wait

    def signals(self, model: str, plan: Plan) -> Signals:
        cloud = self.cloud
        edge, via_cloud = self.edge_ms.get(model), self.cloud_ms.get(model)
        edge_ms = self._edge_expected(model)
        measuring = model in self._shadowing  # one shadow run at a time per model
        return Signals(
            cpu=self.load.cpu,
            mem=self.load.mem,
            edge_ms=edge_ms,
            cloud_ms=via_cloud.value if via_cloud is not None else None,
            rtt_ms=cloud.net.value if cloud is not None else None,
            cloud_available=cloud is not None and cloud.available(),
            battery=self.load.battery,
            voice=plan.voice,
            edge_stale=not measuring and (edge is None or edge.stale()),
            cloud_stale=not measuring and self._cloud_stale(via_cloud, edge_ms),
        )

    @property
    def shadows(self) -> int:
        """Shadow runs done (both sides), from the `offload.shadow.*` counters."""
        counters = self.stats.counters
        return counters["offload.shadow.edge"] + counters["offload.shadow.cloud"]

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
            if decision.shadow:
                self._plan_shadow(job, plan)
            if plan.mode is not Mode.CASCADE:
                self._count(decision)
            return
        self._count(decision)
        if decision.shadow:
            self._plan_shadow(job, plan)
        self._spawn(self._offload(job, plan))

    async def _offload(self, job: Job, plan: Plan) -> None:
        assert self.cloud is not None
        ctype = content_type(job.payload, plan.voice)
        try:
            answer = await self.cloud.infer(plan.cloud_model, job.payload, ctype, job.rid)
        except CloudError as exc:
            log.debug("offload of %s failed, running locally: %s", job.model, exc)
            self.stats.count("offload.fallback")
            self._unplan_shadow(job)  # the edge answers: it gets measured anyway
            try:
                self.runner.submit(job)
            except Rejected as rejected:
                self._reject(job.source_topic, rejected)
            return
        latency = _since(job)
        self._measure(self.cloud_ms, job.model, latency)
        shadow = self._unplan_shadow(job) is not None  # before publishing, which may raise
        self._answer_cloud(job, answer.result, latency, None)
        if shadow:
            self._shadow_edge(job)

    # --- measuring the side not in use ------------------------------------------------------
    def _plan_shadow(self, job: Job, plan: Plan) -> None:
        if job.model in self._shadowing:
            return  # one shadow run at a time per model (`explore` asks on every request)
        self._shadow_after[id(job)] = plan
        self._shadowing.add(job.model)

    def _unplan_shadow(self, job: Job) -> Plan | None:
        """The plan of a shadow run `job` asked for (None: none); the model is free to plan the
        next one unless the caller starts this one."""
        plan = self._shadow_after.pop(id(job), None)
        if plan is not None:
            self._shadowing.discard(job.model)
        return plan

    @staticmethod
    def _measure(ewmas: dict[str, Ewma], model: str, sample: float) -> None:
        ewmas.setdefault(model, Ewma(stale_after_s=EXPLORE_AFTER_S)).add(sample)

    def _measure_edge(self, done: Done) -> bool:
        """Account a local answer's times; True for a shadow run (measured, never published).
        A job the policy marked starts its cloud shadow now that it is answered."""
        job = done.job
        if done.error is None:
            self._measure(self.edge_ms, job.model, done.latency_ms)
            self._measure(self.service_ms, job.model, done.compute_ms)
        if job.shadow:
            self._shadowing.discard(job.model)
            return True
        plan = self._unplan_shadow(job)
        if plan is not None and done.error is None and self.cloud is not None:
            self._shadowing.add(job.model)
            self._spawn(self._shadow_cloud(job, plan))
        return False

    def _shadow_edge(self, job: Job) -> None:
        """Run a copy of an offloaded request locally to measure the edge (after its answer,
        so it never delays it)."""
        copy = replace(job, arrived=time.perf_counter(), shadow=True, rid=None)
        try:
            self.runner.submit(copy)
        except Rejected:
            return  # the queue is full: the edge is busy enough not to be measured now
        self._shadowing.add(job.model)  # until its Done comes back
        self.stats.count("offload.shadow.edge")

    async def _shadow_cloud(self, job: Job, plan: Plan) -> None:
        """Send a copy of a locally answered request to the hub to measure the cloud."""
        assert self.cloud is not None
        started = time.perf_counter()
        try:
            await self.cloud.infer(
                plan.cloud_model, job.payload, content_type(job.payload, plan.voice), None
            )
        except CloudError:
            return  # the breaker has been told
        finally:
            self._shadowing.discard(job.model)
        self._measure(self.cloud_ms, job.model, (time.perf_counter() - started) * 1000.0)
        self.stats.count("offload.shadow.cloud")

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
            cloud_confidence=cascade.confidence_of(cloud_result.output),
        )
        self.answers += 1
        self.cloud_answers += 1
        self.stats.infer_ms(latency_ms)
        for message in self.replies.messages(job, result):
            self._publish(message)

    # --- after the local model answered ------------------------------------------------------
    def done(self, done: Done) -> bool:
        """Account a local answer; True when cascade takes it over (publishes later)."""
        if self._measure_edge(done):
            return True  # a shadow run: measured, not published
        model = done.job.model
        plan = self.plans.get(model)
        if done.error is not None or plan is None or plan.mode is not Mode.CASCADE:
            self.answers += done.error is None
            return False
        confidence = done.confidence if done.confidence is not None else 1.0
        signals = self.signals(model, plan)
        asked = cascade.ask(done.output, signals, plan.thresholds, plan.rescue)
        self._count(asked.decision)
        if asked.decision.where is Where.CLOUD:
            self._spawn(self._second_opinion(done, plan, confidence, asked))
            return True
        self.answers += 1
        if asked.decision.reason is not Reason.CONFIDENT:  # would ask, but the cloud is away
            self._keep_hard(done, confidence)
        return False

    async def _second_opinion(
        self, done: Done, plan: Plan, confidence: float, asked: cascade.Ask
    ) -> None:
        assert self.cloud is not None
        job = done.job
        ctype = content_type(job.payload, plan.voice)
        try:
            answer = await self.cloud.infer(plan.cloud_model, job.payload, ctype, job.rid)
        except CloudError as exc:
            log.debug("cascade: cloud unavailable (%s); answering from the edge", exc)
            self.stats.count("offload.edge.cloud_failed")
            self._keep_hard(done, confidence)
        else:
            merged = cascade.merge(asked, answer.result.output)
            if merged.where is Where.CLOUD:
                self._answer_cloud(job, answer.result, _since(job), confidence)
                return
            self._count(merged)  # rescue not confirmed: the edge's own answer stands
        # the edge's reply (its latency_ms is the edge's; health counts the wait for the cloud)
        self.answers += 1
        self.stats.infer_ms(_since(job))
        for message in done.replies:
            self._publish(message)

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
