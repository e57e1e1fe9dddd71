"""The owner of every inference request, from its arrival to its one answer: where it runs
(the pure policies of `offload.py` and `cascade.py`), running it (the local runner, the hub via
`cloud.py`, a cascade's second opinion), and publishing its result or error from one place
(`publish_all`). Runs on the event loop; counts every decision by reason."""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from contract import EdgeAnswer, InferResult
from edge_agent import cascade
from edge_agent import offload as policy
from edge_agent.cloud import CloudClient, CloudError, Ewma, latency_estimate
from edge_agent.config import AgentConfig
from edge_agent.errors import PeerError, Rejected
from edge_agent.load import LoadSampler, make_full_models
from edge_agent.messages import Inbound, Outbound
from edge_agent.offload import Mode, Reason, Signals, Thresholds, Weights, Where
from edge_agent.plans import Plan, content_type, make_plans
from edge_agent.replies import Replies
from edge_agent.router import InferRoute
from edge_agent.runner import Done, Job, Runner
from edge_agent.stats import Stats
from edge_agent.utterance import wake_window

if TYPE_CHECKING:  # gateways' and hard samples' modules load only where used (start-up time)
    from edge_agent.hard_samples import HardSamples
    from edge_agent.peers import Peers
    from edge_agent.targets import Target

log = logging.getLogger(__name__)
Learn = Callable[[str, bytes, dict[str, Any]], None]  # (model, input, the hub's answer)
Heard = Callable[[Job, BaseModel | dict[str, Any]], None]  # (request, its answer's output)


def _since(job: Job) -> float:
    return (time.perf_counter() - job.arrived) * 1000.0


class Dispatcher:
    """Takes each request, runs it on the edge or the cloud, and publishes its one answer.

    Arrival: `take` (the agent) or `submit`. Local answers come back through `done`, which the
    runner calls for every finished job. Errors for inputs that never became a request (a bad
    topic, a bad command) are published through `reject` too, so every answer leaves here.
    """

    def __init__(
        self,
        config: AgentConfig,
        runner: Runner,
        replies: Replies,
        stats: Stats,
        publish: Callable[[Outbound], None],
        cloud: CloudClient | None,
        hard: "HardSamples | None",
        peers: "Peers | None" = None,
    ) -> None:
        self.runner, self.replies, self.stats = runner, replies, stats
        self._publish = publish
        self.cloud, self.hard, self.peers = cloud, hard, peers
        self.weights = Weights(**config.peers.weights.model_dump())
        self.quality = config.peers.quality
        self.share_hard = config.offload.share_hard_samples
        self.learn: Learn | None = None  # the hub's answers as labels (edge_agent.lessons)
        self.heard: Heard | None = None  # every answer, after it is published (voice commands)
        self.load = LoadSampler()
        base = Thresholds(**config.offload.policy)
        self.plans = make_plans(config, base)
        self.full = make_full_models(config, runner, base)
        if self.full is not None:
            self.load.on_sample = self.full.sweep
        # per model, measured alike on both sides: arrival -> answer ready (docs/offload.md)
        self.edge_ms: dict[str, Ewma] = {}
        self.cloud_ms: dict[str, Ewma] = {}
        self.service_ms: dict[str, Ewma] = {}  # pipeline.run() alone: what each queued job adds
        self.previous: dict[str, Where] = {}
        self._shadow_after: dict[int, Plan] = {}  # id(job) -> its plan: shadow-run once answered
        self._explore_after: dict[int, tuple[str, ...]] = {}  # id(job) -> models: `_answered`
        self._shadowing: set[str] = set()  # models with a shadow run planned or in flight
        self.answers = 0
        self.cloud_answers = 0  # answered remotely: by the hub or a gateway
        self.gateway_answers = 0
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
        """Whether to re-measure the cloud (`offload.needs_measuring`; the edge is re-measured
        every 2 s: it is what recovers when a load ends)."""
        if via_cloud is None or via_cloud.value is None:
            return True
        return policy.needs_measuring(via_cloud.age(), via_cloud.value, edge_ms)

    def _target(self, model: str, plan: Plan, second_opinion: bool = False) -> "Target | None":
        """The best remote for `model` now (`targets.best_target`); None without gateways, where
        the hub is the only remote and the policy's own signals describe it."""
        if self.peers is None:
            return None
        from edge_agent.targets import Asking, best_target

        cloud = self.cloud
        via = self.cloud_ms.get(model)
        floor = cloud.net.value if cloud is not None else None  # unmeasured: the link at least
        hub_ms = via.value if via is not None and via.value is not None else floor
        asking = Asking(model, plan.cloud_model, self._edge_expected(model), hub_ms, second_opinion)
        available = cloud is not None and cloud.available()
        return best_target(asking, self.peers, available, self.weights, self.quality)

    def signals(self, model: str, plan: Plan, target: "Target | None" = None) -> Signals:
        """What the policy sees; with `target`, the offload side is that remote (a gateway's
        own measurements, or the hub's)."""
        cloud = self.cloud
        edge, via_cloud = self.edge_ms.get(model), self.cloud_ms.get(model)
        service = self.service_ms.get(model)
        edge_ms = self._edge_expected(model)
        measuring = model in self._shadowing  # one shadow run at a time per model
        signals = Signals(
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
            edge_compute_ms=service.value if service is not None else None,
        )
        if target is None or target.peer is None:
            return signals
        ms = target.remote.expected_ms  # as RTT too: a LAN hop plus compute bounds the voice rule
        return replace(signals, cloud_ms=ms, rtt_ms=ms, cloud_available=True, cloud_stale=False)

    @property
    def offload_ratio(self) -> float:
        return self.cloud_answers / self.answers if self.answers else 0.0

    def _count(self, decision: policy.Decision) -> None:
        self.stats.count(decision.counter)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- arrival -----------------------------------------------------------------------------
    def take(self, route: InferRoute, message: Inbound) -> None:
        """A routed inference request, as the link delivered it."""
        self.submit(
            Job(
                route.model,
                route.rid,
                route.source_topic,
                message.payload,
                message.arrived,
                message.response_topic,
                message.correlation,
                peer_request=self.replies.for_peer(message.response_topic),
            )
        )

    def submit(self, job: Job) -> None:
        """Edge (the runner's queue; a full one answers `overloaded`) or cloud (an async call)."""
        self.stats.count("requests")
        if self.full is not None:
            self.full.route(job, self.load.load)
        plan = self.plans.get(job.model)
        if plan is None or plan.mode is Mode.EDGE or self.cloud is None or job.peer_request:
            self._run_local(job)
            return
        target = self._target(job.model, plan) if plan.mode is Mode.ADAPTIVE else None
        signals = self.signals(job.model, plan, target)
        decision = policy.decide(plan.mode, signals, plan.thresholds, self.previous.get(job.model))
        if plan.mode is Mode.ADAPTIVE:
            self.previous[job.model] = decision.where
            elsewhere = target is None or target.peer is None or decision.where is Where.EDGE
            if elsewhere and self.peers is not None:
                self._explore_after[id(job)] = (plan.cloud_model, job.model)
        if decision.where is Where.EDGE:
            if not self._run_local(job):
                return
            if decision.shadow:
                self._plan_shadow(job, plan)
            if plan.mode is not Mode.CASCADE:
                self._count(decision)
            return
        if decision.shadow:
            self._plan_shadow(job, plan)
        if target is not None and target.peer is not None:
            self.stats.count(f"offload.gateway.{decision.reason.value}")
            self._spawn(self._offload_peer(job, plan, target))
            return
        self._count(decision)
        self._spawn(self._offload(job, plan))

    def _run_local(self, job: Job) -> bool:
        """Queue `job` on the runner; False when it was refused (and answered with the error)."""
        try:
            self.runner.submit(job)
        except Rejected as rejected:
            self.reject(job.source_topic, rejected, job)
            self._answered(job, None)
            return False
        return True

    async def _offload_peer(self, job: Job, plan: Plan, target: "Target") -> None:
        """Run `job` on a site gateway; if it fails, the hub takes it (when it is available),
        else the edge: the request is answered either way."""
        assert self.peers is not None
        assert target.peer is not None
        peer = target.peer
        try:
            result = await self.peers.infer(peer, target.model, job.payload)
        except PeerError as exc:
            log.debug("offload of %s to %s failed: %s", job.model, peer.device_id, exc)
            self.stats.count("offload.gateway_failed")
            if self.cloud is not None and self.cloud.available():
                await self._offload(job, plan)
                return
            self._unplan_shadow(job)
            self._run_local(job)
            return
        self.stats.count(f"offload.target.{peer.device_id}")
        shadow = self._unplan_shadow(job) is not None
        self._answer_cloud(job, result, _since(job), None, peer.device_id)
        if shadow:
            self._shadow_edge(job)

    def _explore_gateways(self, job: Job, models: tuple[str, ...]) -> None:
        """A request not sent to a gateway: one due for measuring gets a copy of it."""
        edge_ms = self._edge_expected(job.model)
        if self.peers is not None and (copy := self.peers.explore(models, job.payload, edge_ms)):
            self.stats.count("offload.shadow.gateway")
            self._spawn(copy)

    async def _offload(self, job: Job, plan: Plan) -> None:
        assert self.cloud is not None
        ctype = content_type(job.payload, plan.kind)
        try:
            answer = await self.cloud.infer(plan.cloud_model, job.payload, ctype, job.rid)
        except CloudError as exc:
            log.debug("offload of %s failed, running locally: %s", job.model, exc)
            self.stats.count("offload.fallback")
            self._unplan_shadow(job)  # the edge answers: it gets measured anyway
            self._run_local(job)
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
        ewmas.setdefault(model, latency_estimate()).add(sample)

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
                plan.cloud_model, job.payload, content_type(job.payload, plan.kind), None
            )
        except CloudError:
            return  # the breaker has been told
        finally:
            self._shadowing.discard(job.model)
        self._measure(self.cloud_ms, job.model, (time.perf_counter() - started) * 1000.0)
        self.stats.count("offload.shadow.cloud")

    # --- after the local model answered ------------------------------------------------------
    def done(self, done: Done) -> None:
        """A job the runner finished: measured, then answered unless it was a shadow run or
        cascade asks the cloud for a second opinion first."""
        if self._measure_edge(done):
            return  # a shadow run: measured, never published
        if done.error is not None:
            self.reject(done.job.source_topic, done.error, done.job)
            self._answered(done.job, None)
            return
        plan = self.plans.get(done.job.model)
        asks = plan and plan.mode is Mode.CASCADE and not done.job.peer_request  # a peer's: as is
        if asks and plan and self._ask_cloud(done, plan):
            return  # the second opinion answers
        self._result(done.replies, done.latency_ms)  # encoded by the worker
        self._answered(done.job, done.output)

    def _ask_cloud(self, done: Done, plan: Plan) -> bool:
        """Cascade: True when the cloud is asked (its second opinion answers later)."""
        confidence = done.confidence if done.confidence is not None else 1.0
        model = done.job.model
        target = self._target(model, plan, second_opinion=True)
        signals = self.signals(model, plan, target)
        asked = cascade.ask(done.output, signals, plan.thresholds, plan.rescue)
        if plan.spot_checks and random.random() < plan.spot_checks:  # checked, at random
            asked = cascade.spot_check(asked, done.output, plan.rescue, signals, plan.thresholds)
        self._count(asked.decision)
        if asked.decision.where is Where.CLOUD:
            self._spawn(self._second_opinion(done, plan, confidence, asked, target))
            return True
        if asked.decision.reason is not Reason.CONFIDENT:  # would ask, but the cloud is away
            self._keep_hard(done, plan, confidence)
        return False

    async def _second_opinion(
        self,
        done: Done,
        plan: Plan,
        confidence: float,
        asked: cascade.Ask,
        target: "Target | None" = None,
    ) -> None:
        """The full model's answer, from a site gateway that has it (`target`) or the hub; a
        gateway that fails hands over to the hub, a hub that fails leaves the edge's answer."""
        job, payload = done.job, wake_window(done.job.payload, done.output)  # not a command
        answer: InferResult | None = None
        peer = target.peer if target is not None else None
        gateway = peer.device_id if peer is not None else None
        if self.peers is not None and peer is not None:
            try:
                answer = await self.peers.infer(peer, plan.cloud_model, payload)
            except PeerError as exc:
                log.debug("cascade: gateway failed (%s); asking the hub", exc)
                self.stats.count("offload.gateway_failed")
                gateway = None
        if answer is None and self.cloud is not None and self.cloud.available():
            self._explore_gateways(job, (plan.cloud_model,))
            ctype = content_type(payload, plan.kind)
            edge = self._edge_answer(done, confidence)
            try:
                called = await self.cloud.infer(plan.cloud_model, payload, ctype, job.rid, edge)
                answer = called.result
                self._measure(self.cloud_ms, job.model, called.elapsed_ms)  # vs. a gateway's
            except CloudError as exc:
                log.debug("cascade: cloud unavailable (%s); answering from the edge", exc)
        if answer is None:
            self.stats.count("offload.edge.cloud_failed")
            self._keep_hard(done, plan, confidence)
        else:
            if self.learn is not None:
                self.learn(job.model, job.payload, answer.output)
            merged = cascade.merge(asked, answer.output)
            if merged.where is Where.CLOUD:
                answer = cascade.keep_timing(answer, done.output)
                self._answer_cloud(job, answer, _since(job), confidence, gateway)
                return
            self._count(merged)  # rescue not confirmed: the edge's own answer stands
        # the edge's reply (its latency_ms is the edge's; health counts the wait for the cloud)
        self._result(done.replies, _since(job))
        self._answered(job, done.output)

    def _edge_answer(self, done: Done, confidence: float) -> EdgeAnswer | None:
        """What the device answered, for the hub's hard samples (unless the config opts out)."""
        if not self.share_hard or done.output is None:
            return None
        return EdgeAnswer(
            model=done.job.model,
            model_version=done.version,
            output=done.output.model_dump(mode="json"),
            confidence=confidence,
        )

    def _keep_hard(self, done: Done, plan: Plan, confidence: float) -> None:
        """Keep the input while the hub is away; `hard_samples.upload_forever` sends it later."""
        if self.hard is None:
            return
        from edge_agent.hard_samples import SampleMeta  # only where a cascade keeps samples

        job, edge = done.job, self._edge_answer(done, confidence)
        meta = SampleMeta(
            model=job.model, saved_at=time.time(), confidence=confidence, rid=job.rid,
            source=job.source_topic, cloud_model=plan.cloud_model,
            content_type=content_type(job.payload, plan.kind), edge=edge,
        )  # fmt: skip
        self.stats.count("hard_samples.saved")
        self._spawn(asyncio.to_thread(self.hard.save, job.payload, meta))

    # --- answers: results and errors leave the agent here -------------------------------------
    def reject(self, topic: str, rejected: Rejected, job: Job | None = None) -> None:
        """Answer the input on `topic` with an `error` (a request, or a message refused before
        it became one), copied to the request's response topic if it has one."""
        self.stats.error(rejected.code)
        log.debug("rejected %s: %s %s", topic, rejected.code.value, rejected)
        copy = self.replies.error_reply(job, rejected) if job is not None else None
        self.publish_all([self.replies.error(topic, rejected), *([copy] if copy else [])])

    def _answer_cloud(
        self,
        job: Job,
        cloud_result: InferResult,
        latency_ms: float,
        edge_conf: float | None,
        gateway: str | None = None,
    ) -> None:
        """Publish a remote answer: the hub's, or (`gateway`) a site gateway's."""
        result = InferResult(
            model=cloud_result.model,
            model_version=cloud_result.model_version,
            where="cloud" if gateway is None else "gateway",
            served_by=gateway,
            latency_ms=round(latency_ms, 3),
            output=cloud_result.output,
            rid=job.rid,
            msg_id=uuid.uuid4().hex,
            source_topic=job.source_topic,
            edge_confidence=edge_conf,
            cloud_confidence=cascade.confidence_of(cloud_result.output),
        )
        self.cloud_answers += 1
        self.gateway_answers += gateway is not None
        self._result(self.replies.messages(job, result), latency_ms)
        self._answered(job, result.output)

    def _answered(self, job: Job, output: BaseModel | dict[str, Any] | None) -> None:
        """`job` is answered (`output` None: refused): a gateway due for measuring gets a copy now,
        not before (it would compete with the answer for a busy CPU); the sender learns what
        answered it, if it asked (`Job.on_answer`)."""
        models = self._explore_after.pop(id(job), None)
        if models is not None and output is not None:
            self._explore_gateways(job, models)
        if job.on_answer is not None:
            dumped = output.model_dump(mode="json") if isinstance(output, BaseModel) else output
            job.on_answer(dumped)
        if self.heard is not None and output is not None:
            self.heard(job, output)

    def _result(self, messages: list[Outbound], latency_ms: float) -> None:
        self.answers += 1
        self.stats.infer_ms(latency_ms)
        self.publish_all(messages)

    def publish_all(self, messages: list[Outbound]) -> None:
        """The one place a request's answer is published (result, response copy, events, or
        the error), in the order the answers became ready."""
        for message in messages:
            self._publish(message)
