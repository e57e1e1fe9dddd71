"""The edge agent: a small state machine running one named asyncio task per duty.

STARTING (load models) -> CONNECTING -> RUNNING <-> RECONNECTING -> STOPPING -> STOPPED.
Tasks: `link` (MQTT session with its own reconnect loop), `health` (heartbeat) and
`worker:{model}:{i}` (inference). A task that crashes is logged and restarted, never fatal.
"""

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from contract import (
    Ack,
    Command,
    ContractError,
    ErrorCode,
    Kind,
    PeerOffer,
    Topics,
    TwinReported,
)
from contract import decode as decode_message
from contract import encode as encode_message
from contract.health import DeviceState
from edge_agent.agent_update import running_version
from edge_agent.commands import Commands
from edge_agent.config import AgentConfig
from edge_agent.dispatch import Dispatcher
from edge_agent.errors import AgentError, Rejected
from edge_agent.federated import DeviceLearning
from edge_agent.health import Extras, HealthReporter
from edge_agent.homeassistant import for_agent as ha_discovery
from edge_agent.link import Link
from edge_agent.memory import memory_duty
from edge_agent.messages import Inbound, Outbound
from edge_agent.offload import EXPLORE_MAX_S
from edge_agent.outbox import OutboxTask
from edge_agent.parts import (
    hears_commands,
    hub_acks,
    make_cloud,
    make_hard_samples,
    make_outbox,
    make_voice_commands,
    site_roles,
)
from edge_agent.replies import Replies
from edge_agent.router import CommandRoute, Router
from edge_agent.runner import PipelineLike, Runner
from edge_agent.stats import Stats
from edge_agent.twin import DeviceTwin, Knob, agent_knobs
from edge_agent.voice_commands import VoiceCommands, intent_types

if TYPE_CHECKING:
    from edge_agent.peers import HubPeers, Peers
    from edge_agent.sources.base import Source

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
SHUTDOWN_TIMEOUT_S = 5.0
HARD_SAMPLE_UPLOAD_S = 5.0  # how often kept hard samples are offered to a reachable hub


class State(StrEnum):
    STARTING = "starting"
    CONNECTING = "connecting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Agent:
    """Serves the models of one device over MQTT until `stop()`."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.device = config.device_id
        self.topics = Topics(config.topic_prefix)
        self.stats = Stats()
        self.replies = Replies(self.topics, self.device, running_version())
        self.state = State.STARTING
        self._state_changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.runner: Runner | None = None
        self.link: Link | None = None
        self.router: Router | None = None
        self.learning = DeviceLearning(config, self.topics, self._publish)
        self.commands = Commands(
            config, self.topics, self._publish, self.learning, lambda: self.state.value, self.stop
        )
        self.exit_code = 0  # for the launcher: edge_agent.launcher's codes
        self._running_since: float | None = None
        self.dispatch: Dispatcher | None = None
        self.peers: Peers | None = None  # the site's gateways, when this agent offloads to them
        self.voice: VoiceCommands | None = None  # commands after wake words, where heard
        self.hub_peers: HubPeers | None = None
        self.outbox: OutboxTask | None = None
        self._ack_topic = self.topics.ack(self.device)
        self._desired_topic = self.topics.twin_desired(self.device)
        self.twin: DeviceTwin | None = None
        self.sources: list[Source] = []  # cameras and microphones the agent reads itself
        ha = config.home_assistant  # Home Assistant discovery (docs/home-assistant.md)
        self.hears_commands = hears_commands(config)  # read once: it parses the catalogue
        self.ha = ha_discovery(
            enabled=ha.enabled,
            ha_prefix=ha.discovery_prefix,
            device=self.device,
            topics=self.topics,
            agent_version=running_version(),
            models=config.models,
            health_interval_s=config.health_interval_s,
            name=ha.name,
            cameras=[camera.name for camera in config.cameras],
            intents=intent_types() if self.hears_commands else (),
        )

    # --- factory seams (tests swap these) ---

    def _load_pipelines(self) -> dict[str, list[PipelineLike]]:
        from models.catalogue import load_catalogue
        from models.errors import ModelError
        from models.pipelines import load_pipeline  # heavy: numpy, cv2, LiteRT

        n, model_dir = self.config.inference_workers, self.config.model_dir
        # a doubt head's estimate is for the cascade: other modes skip its work (~0.3 ms a frame)
        cascade = {m for m, pc in self.config.offload.pipelines.items() if pc.mode == "cascade"}
        try:
            catalogue = load_catalogue(model_dir=model_dir)

            def load(model: str) -> PipelineLike:
                pipeline = load_pipeline(model, catalogue, model_dir)
                if model not in cascade:
                    pipeline.doubt_head = None
                return pipeline

            pipelines = {m: [load(m) for _ in range(n)] for m in self.config.models}
            return self.learning.wrap(pipelines)  # swappable slots for signed model updates
        except ModelError as exc:
            raise AgentError(f"cannot load models: {exc}") from exc

    def _make_runner(self) -> Runner:
        return Runner(
            self._load_pipelines(),
            queue_limit=self.config.queue_limit,
            encode=self.replies.result,
        )

    def _make_link(self) -> Link:
        models = self.config.models
        topics, d = self.topics, self.device
        subscriptions = [
            topics.filter(Kind.INFER, d),
            topics.filter(Kind.CMD, d),
            topics.filter(Kind.ACK, d),
            topics.filter(Kind.TWIN_DESIRED, d),
            *([self.peers.reply_filter] if self.peers is not None else []),
        ]
        return Link(
            self.config.broker,
            client_id=self.config.client_id,
            will=self.replies.status(DeviceState.OFFLINE, models),
            birth=lambda: self.replies.status(DeviceState.ONLINE, models),
            subscriptions=subscriptions
            + [s.topic for s in self.config.sensors]
            + ([self.ha.status_topic] if self.ha else []),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )

    def _make_sources(self, dispatch: Dispatcher) -> list["Source"]:
        sources: list[Source] = []
        if self.config.cameras:
            from edge_agent.sources.camera import CameraSource  # OpenCV capture: only when used

            sources += [
                CameraSource(
                    camera,
                    topics=self.topics,
                    device=self.device,
                    submit=dispatch.submit,
                    reject=dispatch.reject,
                    publish=self._publish,
                )
                for camera in self.config.cameras
            ]
        if self.config.microphones:
            from edge_agent.sources.microphone import MicrophoneSource

            sources += [
                MicrophoneSource(
                    mic, submit=dispatch.submit, reject=dispatch.reject, commands=self.voice
                )
                for mic in self.config.microphones
            ]
        return sources

    def _make_twin(self, knobs: dict[str, Knob]) -> DeviceTwin:
        return DeviceTwin(self.device, knobs)  # in memory: the retained desired restores it

    # --- life cycle ---

    def _set(self, state: State) -> None:
        if state is not self.state:
            log.info("agent %s: %s -> %s", self.device, self.state.value, state.value)
            self.state = state
            running = state is State.RUNNING
            self._running_since = asyncio.get_running_loop().time() if running else None
            self._state_changed.set()
            self._state_changed = asyncio.Event()

    async def wait_state(self, *states: State) -> State:
        """Return once the agent is in one of `states` (for tests and embedding)."""
        while self.state not in states:
            await self._state_changed.wait()
        return self.state

    def stop(self, exit_code: int = 0) -> None:
        """Stop; `exit_code` is what `edgefleet agent` exits with (the first one given wins)."""
        if not self._stop.is_set():
            self.exit_code = exit_code
        self._stop.set()

    async def _wait_running(self) -> None:
        await self.wait_state(State.RUNNING)

    def connected_for(self) -> float:
        """Seconds since the agent last became RUNNING; 0 while it is not."""
        if self._running_since is None:
            return 0.0
        return asyncio.get_running_loop().time() - self._running_since

    async def run(self) -> None:
        self._set(State.STARTING)
        self.runner = self._make_runner()  # models load before connecting
        self.router = Router(
            self.topics,
            self.device,
            self.runner.models,
            self.config.sensors,
            self.config.max_payload_bytes,
        )
        cloud = make_cloud(self.config, self.hears_commands)
        serve, use = site_roles(self.config)
        if use:
            from edge_agent.peers import Peers  # only where site gateways are used

            config = self.config.peers
            self.peers = Peers(config, self.topics, self.device, self._publish, self._subscribe)
        self.dispatch = dispatch = Dispatcher(
            self.config,
            self.runner,
            self.replies,
            self.stats,
            self._publish,
            cloud,
            make_hard_samples(self.config),
            self.peers,
        )
        self.runner.on_done = dispatch.done  # the dispatcher owns each request to its answer
        self.voice = make_voice_commands(self.config, cloud, dispatch, self.hears_commands)
        if self.voice is not None:
            dispatch.heard = self.voice.heard  # commands spoken after a wake word, to the hub
        if (client := self.learning.client) is not None and client.lessons is not None:
            dispatch.learn = client.lessons.learn  # the hub's answers teach the next round
        self.sources = self._make_sources(dispatch)
        self._set(State.CONNECTING)
        self.link = link = self._make_link()
        self.outbox = outbox = OutboxTask(
            make_outbox(self.config),
            link,
            hub_acks=hub_acks(self.config),
            on_sent=lambda label, n: self.stats.count(f"published.{label}", n),
        )
        health = HealthReporter(
            self.stats,
            self.runner.depth,
            self._publish_health,
            self.config.health_interval_s,
            self._health_extras,
        )
        self.twin = self._make_twin(agent_knobs(health, self.runner.pipelines, dispatch))
        duties: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("link", link.run),
            ("health", health.run),
            ("outbox", outbox.run),
            ("load", dispatch.load.run),
            *self.runner.workers(),
            *self.learning.duties(),
            *((f"{source.kind}:{source.name}", source.run) for source in self.sources),
        ]
        if cloud is not None:
            probe = self.config.offload.probe_interval_s
            duties.append(("cloud-probe", lambda: cloud.probe_forever(probe, EXPLORE_MAX_S)))
            if (hard := dispatch.hard) is not None:
                from edge_agent.hard_samples import upload_forever

                share = lambda: dispatch.share_hard  # noqa: E731 (the twin may change it)
                upload = (hard, cloud, share, self.stats.count, HARD_SAMPLE_UPLOAD_S)
                duties.append(("hard-samples", functools.partial(upload_forever, *upload)))
        if serve or use:
            duties.append(("site", self._site_duty(serve)))
        duties.append(("memory", memory_duty))
        duties.append(
            (
                "update-trial",
                lambda: self.commands.trial_duty(self.connected_for, self._wait_running),
            )
        )
        for name, factory in duties:
            self._tasks[name] = asyncio.create_task(self._supervise(name, factory), name=name)
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(link)

    def _site_duty(self, serve: bool) -> Callable[[], Coroutine[Any, Any, None]]:
        """The `site` task: register as a gateway (`serve`), keep the site's gateways listed."""
        url, auth = self.config.hub.url, self.config.hub_auth
        assert url is not None
        assert auth is not None
        assert self.runner is not None
        from edge_agent.peers import HubPeers, keep_site

        self.hub_peers = hub = HubPeers(url, auth)
        offer = PeerOffer(models=self.runner.models, workers=self.config.inference_workers)
        site = (hub, self.peers, offer if serve else None, self.config.peers.refresh_s)
        return functools.partial(keep_site, *site)

    def _subscribe(self, topics: list[str]) -> None:
        if self.link is not None:
            self.link.subscribe(topics)

    async def _shutdown(self, link: Link) -> None:
        self._set(State.STOPPING)
        await link.close(self.replies.status(DeviceState.OFFLINE, self.config.models))
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT_S)
        for task in stuck:  # asyncio.run() cancels these once more on the way out
            log.warning("task %s did not stop within %.0f s", task.get_name(), SHUTDOWN_TIMEOUT_S)
        self._tasks.clear()
        if self.dispatch is not None and self.dispatch.cloud is not None:
            await self.dispatch.cloud.aclose()
        if self.hub_peers is not None:
            await self.hub_peers.aclose()
        if self.outbox is not None:
            self.outbox.close()
        self._set(State.STOPPED)

    async def _supervise(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        while True:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task %s crashed; restarting in %.0f s", name, RESTART_DELAY_S)
                await asyncio.sleep(RESTART_DELAY_S)

    def _on_connected(self, up: bool) -> None:
        if self.state is not State.STOPPING:
            self._set(State.RUNNING if up else State.RECONNECTING)
        if self.outbox is not None:
            self.outbox.session(up)
        for source in self.sources:
            source.session(up)
        if up and self.ha is not None:  # (re)announce to Home Assistant, retained
            self._publish(self.ha.announcement())

    # --- publishing: every message leaves through here (outbox or link) ---

    def _publish(self, message: Outbound) -> None:
        assert self.link is not None
        if message.msg_id is not None and self.outbox is not None:  # results, events, health
            self.outbox.put(message)
            self.stats.count(f"queued.{message.label}")
            return
        if self.link.publish(message):
            self.stats.count(f"published.{message.label}")
        else:  # no session right now; there is no durable outbox yet
            self.stats.count(f"dropped.{message.label}")

    def _publish_health(self, payload: bytes, msg_id: str) -> None:
        self._publish(self.replies.health(payload, msg_id))

    def _health_extras(self) -> Extras:
        counters: dict[str, int] = {}
        if self.outbox is not None:
            box = self.outbox.outbox
            full = len(box) >= 0.9 * self.config.outbox.max_messages
            counters = {
                "outbox.pending": len(box),
                "outbox.in_flight": box.in_flight,
                "outbox.dropped": box.dropped,
                "outbox.resent": box.resends,
                "outbox.alarm": int(box.dropped > 0 or full),
            }
        if self.peers is not None:  # site gateways this device may offload to right now
            counters["peers.available"] = sum(map(self.peers.available, self.peers.peers.values()))
        sources = {source.name: source.health() for source in self.sources}
        dispatch = self.dispatch
        if dispatch is None:
            return Extras(counters=counters, sources=sources)
        rtt = dispatch.cloud.rtt.value if dispatch.cloud is not None else None
        latency = {m: e.value for m, e in dispatch.edge_ms.items() if e.value is not None}
        free = self.runner.idle_workers() if self.runner is not None else None
        return Extras(rtt, dispatch.offload_ratio, counters, sources, latency, free)

    # --- incoming messages: requests go to the dispatcher, the rest is handled here ---

    def _reject(self, topic: str, rejected: Rejected) -> None:
        """An input refused before it became a request: the dispatcher answers it, as it
        answers every request."""
        assert self.dispatch is not None
        self.dispatch.reject(topic, rejected)

    def _on_message(self, message: Inbound) -> None:
        """The link's callback; nothing escapes it. An exception would end the link task, and
        with its session every request already taken from the broker but not yet handled."""
        try:
            self._handle(message)
        except Exception as exc:
            self._failed(message.topic, exc)

    def _failed(self, topic: str, exc: Exception) -> None:
        """An unexpected failure handling `topic`: logged, answered with `internal`."""
        log.error("internal error handling a message on %s", topic, exc_info=exc)
        reason = f"internal error ({type(exc).__name__}); the device log has the details"
        try:
            self._reject(topic, Rejected(ErrorCode.INTERNAL, reason, self._rid_of(topic)))
        except Exception:
            log.exception("could not publish the error for %s", topic)

    def _rid_of(self, topic: str) -> str | None:
        """The request id of a contract infer topic, if `topic` is one."""
        try:
            return self.topics.parse(topic).rid
        except ContractError:
            return None

    def _handle(self, message: Inbound) -> None:
        assert self.router is not None
        assert self.dispatch is not None
        self.stats.count("received")
        if message.topic == self._ack_topic:
            self._acked(message.payload)
            return
        if self.ha is not None and message.topic == self.ha.status_topic:
            if again := self.ha.on_message(message.topic, message.payload):
                self._publish(again)  # Home Assistant (re)started: announce again
            return
        if self.peers is not None and self.peers.take(message):
            return  # a gateway's status, health or answer
        if message.topic == self._desired_topic:
            if self.twin is not None and (report := self.twin.on_desired(message.payload)):
                self._publish_twin(report)
            return
        try:
            route = self.router.route(message.topic, len(message.payload))
            if route is None:
                return
            if isinstance(route, CommandRoute):
                self._command(route.name, message)
                return
            self.dispatch.take(route, message)  # from here on, the dispatcher's
        except Rejected as rejected:
            self._reject(message.topic, rejected)

    def _publish_twin(self, report: TwinReported) -> None:
        topic = self.topics.twin_reported(self.device)
        self._publish(Outbound(topic, encode_message(report), 1, True, label="twin"))

    def _acked(self, payload: bytes) -> None:
        try:
            ack = decode_message(Ack, payload)
        except ContractError as exc:
            log.warning("ignoring a bad ack: %s", exc)
            return
        if self.outbox is not None:
            self.outbox.acked(ack.msg_ids)

    # --- hub commands ---

    def _command(self, name: str, message: Inbound) -> None:
        try:
            command = decode_message(Command, message.payload)
        except ContractError as exc:
            raise Rejected(ErrorCode.BAD_COMMAND, str(exc)) from None
        self.stats.count("commands")
        self.commands.handle(name, command)
