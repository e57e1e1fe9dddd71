"""Site gateways as seen from a device: which ones there are (the hub's `GET /peers`), whether
each is alive and how loaded (its retained `status` and its `health`, read over MQTT), and
requests to them (their `infer` topic, answered on this device's `reply/{rid}` as the MQTT 5
response topic). A gateway registers itself at the hub (`register`).

Runs on the event loop; nothing here blocks. Dropping a gateway fails its requests in flight at
once, so the dispatcher falls back to the next target and nothing is lost.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from contract import (
    PEER_SERVICE,
    ContractError,
    ErrorMessage,
    Health,
    InferResult,
    Kind,
    Peer,
    PeerOffer,
    Status,
    Topics,
    decode,
    http,
)
from contract.health import DeviceState
from edge_agent.cloud import CircuitBreaker, Ewma, latency_estimate
from edge_agent.errors import PeerError
from edge_agent.messages import Inbound, Outbound
from edge_agent.offload import Remote, needs_measuring
from edge_agent.peer_config import PeersConfig

log = logging.getLogger(__name__)

PEER_LIST = TypeAdapter(list[Peer])


@dataclass
class PeerState:
    """One gateway of the site."""

    device_id: str
    models: frozenset[str]
    workers: int
    breaker: CircuitBreaker
    online: bool = True  # until its retained `status` says otherwise
    health: Health | None = None
    health_at: float = float("-inf")  # time.monotonic() of the last heartbeat
    latency: dict[str, Ewma] = field(default_factory=dict)  # model -> sent -> answered, ms
    exploring: bool = False  # a copy of a request measures it right now

    @property
    def load(self) -> float:
        """0..1 from its last heartbeat: requests waiting beyond those its workers are running,
        per worker. Not its CPU: a gateway that serves is busy by design, and a CPU that slows
        it shows in its measured latency."""
        h = self.health
        if h is None:
            return 0.0
        workers = max(1, self.workers * len(self.models))
        return min(1.0, max(0, h.queue_depth - workers) / workers)


class Peers:
    """The site's gateways and the requests in flight to them."""

    def __init__(
        self,
        config: PeersConfig,
        topics: Topics,
        device: str,
        publish: Callable[[Outbound], None],
        subscribe: Callable[[list[str]], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.topics, self.device = config, topics, device
        self._publish, self._subscribe, self._clock = publish, subscribe, clock
        self.peers: dict[str, PeerState] = {}
        self._by_topic: dict[str, tuple[Kind, str]] = {}  # status/health topic -> (kind, peer)
        self._reply_prefix = topics.reply(device, "x").removesuffix("x")
        self._waiting: dict[str, tuple[str, asyncio.Future[InferResult]]] = {}
        self.failed = 0

    @property
    def reply_filter(self) -> str:
        return self.topics.filter(Kind.REPLY, self.device)

    # --- the site's gateways ---------------------------------------------------------------
    def update(self, listed: list[Peer]) -> None:
        """Take the hub's list: new gateways are watched, gateways no longer listed dropped."""
        listed = [p for p in listed if p.device_id != self.device]
        for peer in listed:
            known = self.peers.get(peer.device_id)
            if known is not None:
                known.models, known.workers = frozenset(peer.models), peer.workers
                continue
            c = self.config
            self.peers[peer.device_id] = PeerState(
                peer.device_id,
                frozenset(peer.models),
                peer.workers,
                CircuitBreaker(c.breaker_failures, c.breaker_cooldown_s, self._clock),
            )
            watched = {
                self.topics.status(peer.device_id): Kind.STATUS,
                self.topics.health(peer.device_id): Kind.HEALTH,
            }
            for topic, kind in watched.items():
                self._by_topic[topic] = (kind, peer.device_id)
            self._subscribe(list(watched))
            log.info("site gateway %s offers %s", peer.device_id, sorted(peer.models))
        gone = set(self.peers) - {p.device_id for p in listed}
        for device_id in gone:
            self._drop(device_id, "no longer listed by the hub")
            del self.peers[device_id]

    def available(self, peer: PeerState) -> bool:
        """Alive (online, heartbeat within `stale_s`) and its breaker lets a request through."""
        fresh = self._clock() - peer.health_at <= self.config.stale_s
        return peer.online and fresh and peer.breaker.available()

    def remotes(self, model: str) -> list[tuple[PeerState, Remote]]:
        """The available gateways offering `model`, as the scheduler scores them."""
        quality = self.config.quality.get(model, 1.0)
        out = []
        for peer in self.peers.values():
            if model not in peer.models or not self.available(peer):
                continue
            measured = peer.latency.get(model)  # kept fresh by shadow copies (`explore`)
            expected = measured.value if measured is not None else None
            out.append((peer, Remote(peer.device_id, expected, peer.load, quality)))
        return out

    def explore(
        self, models: tuple[str, ...], payload: bytes, edge_ms: float | None
    ) -> Coroutine[Any, Any, None] | None:
        """A copy of a request (answer discarded) for a gateway offering one of `models` that is
        due for measuring (`offload.needs_measuring`), one at a time per gateway: called for a
        request that went elsewhere, so that a gateway that once answered slowly is measured
        again, as the hub and the edge are (docs/offload.md). None: nothing to measure."""
        for peer in self.peers.values():
            if peer.exploring or not self.available(peer):
                continue
            for model in models:
                m = peer.latency.get(model)
                age, value = (m.age(), m.value) if m is not None else (0.0, None)
                if model in peer.models and needs_measuring(age, value, edge_ms):
                    peer.exploring = True
                    return self._explore(peer, model, payload)
        return None

    async def _explore(self, peer: PeerState, model: str, payload: bytes) -> None:
        try:
            await self.infer(peer, model, payload)
        except PeerError:
            pass  # its breaker has been told
        finally:
            peer.exploring = False

    # --- MQTT: status, health and replies -----------------------------------------------------
    def take(self, message: Inbound) -> bool:
        """Handle `message` if it is a gateway's status/health or a reply; True if it was."""
        if message.topic.startswith(self._reply_prefix):
            self._reply(message.topic.removeprefix(self._reply_prefix), message.payload)
            return True
        watched = self._by_topic.get(message.topic)
        if watched is None:
            return False
        kind, device_id = watched
        peer = self.peers.get(device_id)
        if peer is None:
            return True
        try:
            if kind is Kind.STATUS:
                peer.online = decode(Status, message.payload).state == DeviceState.ONLINE
                if not peer.online:
                    self._drop(device_id, "it went offline")
            else:
                peer.health, peer.health_at = decode(Health, message.payload), self._clock()
        except ContractError as exc:
            log.warning("ignoring a bad %s from gateway %s: %s", kind.value, device_id, exc)
        return True

    def _reply(self, rid: str, payload: bytes) -> None:
        waiting = self._waiting.pop(rid, None)
        if waiting is None:
            return  # late (timed out) or not ours
        device_id, future = waiting
        if future.done():
            return
        try:
            future.set_result(decode(InferResult, payload))
        except ContractError:
            try:
                error = decode(ErrorMessage, payload)
                future.set_exception(PeerError(f"{device_id} refused: {error.code.value}"))
            except ContractError as exc:
                future.set_exception(PeerError(f"{device_id} answered garbage: {exc}"))

    def _drop(self, device_id: str, why: str) -> None:
        """Fail every request in flight to `device_id` now: each falls back at once."""
        for rid, (peer_id, future) in list(self._waiting.items()):
            if peer_id == device_id and not future.done():
                future.set_exception(PeerError(f"gateway {device_id} dropped: {why}"))
                del self._waiting[rid]
        log.info("site gateway %s dropped: %s", device_id, why)

    # --- requests ----------------------------------------------------------------------------
    async def infer(self, peer: PeerState, model: str, payload: bytes) -> InferResult:
        """Run `model` on `peer`; raise PeerError (the breaker has been told)."""
        if not peer.breaker.acquire():
            raise PeerError(f"gateway {peer.device_id}: circuit open")
        rid = uuid.uuid4().hex[:20]
        future: asyncio.Future[InferResult] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = (peer.device_id, future)
        started = self._clock()
        self._publish(
            Outbound(
                self.topics.infer(peer.device_id, model, rid),
                payload,
                qos=1,
                correlation=rid.encode(),
                label="peer_request",
                response_topic=self.topics.reply(self.device, rid),
            )
        )
        try:
            result = await asyncio.wait_for(future, self.config.timeout_s)
        except (PeerError, TimeoutError) as exc:
            self._waiting.pop(rid, None)
            self.failed += 1
            peer.breaker.failure()
            if not peer.breaker.available():
                log.warning("gateway %s: circuit open after %s", peer.device_id, exc or "timeout")
            raise PeerError(str(exc) or f"gateway {peer.device_id}: no answer in time") from None
        peer.breaker.success()
        ms = (self._clock() - started) * 1000.0
        peer.latency.setdefault(model, latency_estimate(self._clock)).add(ms)
        return result


class HubPeers:
    """The hub side of it: list the site's gateways, register this agent as one."""

    def __init__(self, url: str, auth: tuple[str, str], timeout_s: float = 5.0) -> None:
        import httpx  # only a device with a hub needs it (footprint: docs/agent.md)

        self.device = auth[0]
        self.errors = (httpx.HTTPError, OSError, PeerError)
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), auth=httpx.BasicAuth(*auth), timeout=timeout_s
        )

    async def list(self) -> list[Peer]:
        response = await self._http.get(http.path(http.PEERS))
        response.raise_for_status()
        try:
            return PEER_LIST.validate_json(response.content)
        except ValidationError as exc:
            raise PeerError(f"the hub's gateway list is malformed: {exc}") from None

    async def register(self, offer: PeerOffer) -> None:
        record = {
            "service_id": PEER_SERVICE,
            "address": self.device,
            "metadata": offer.model_dump(),
        }
        path = http.path(http.DEVICE_SERVICE, device_id=self.device)
        response = await self._http.put(path, json=record)
        response.raise_for_status()

    async def aclose(self) -> None:
        await self._http.aclose()


async def keep_site(
    hub: HubPeers, peers: Peers | None, offer: PeerOffer | None, every_s: float
) -> None:
    """The `site` task: register as a gateway (`offer`) once, read the site's gateways
    (`peers`) every `every_s`; a hub that is away is tried again at the next round."""
    while True:
        try:
            if offer is not None:
                await hub.register(offer)
                offer = None  # registered (the hub refreshes the site's broker rights)
            if peers is not None:
                peers.update(await hub.list())
        except hub.errors as exc:
            log.warning("site gateways: the hub did not answer (%s); again in %.0f s", exc, every_s)
        await asyncio.sleep(every_s)
