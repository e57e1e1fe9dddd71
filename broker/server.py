"""`running_broker()`: the embedded amqtt broker as an async context manager.

The CLI, the demo and the tests all start the broker through here, so they share one plugin
list. amqtt 0.12.1 loads its event/packet loggers and the `$SYS` publisher when a config has
no `plugins` key, costing 35-40 % of throughput (measured on a 2-core box); we always pass
an explicit list.
"""

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action, BaseContext
from amqtt.errors import AMQTTError, BrokerError, PluginError, PluginLoadError
from amqtt.plugins.base import BaseTopicPlugin
from amqtt.session import ApplicationMessage, Session
from amqtt.utils import gen_client_id

from broker.handler import KEEP_ALIVE_GRACE, GuardedHandler
from broker.plugins import ACCOUNT_ATTR, ClientCertPlugin, CredentialsAuthPlugin, TopicAclPlugin
from broker.presence import expire_presence
from broker.settings import BrokerSettings
from broker.tls import TlsConfigError, server_context

log = logging.getLogger(__name__)

ANONYMOUS_AUTH = "amqtt.plugins.authentication.AnonymousAuthPlugin"
SESSION_DB = "amqtt.contrib.persistence.SessionDBPlugin"
PAYLOAD_LIMIT = f"{__name__}.PayloadLimitPlugin"
CREDENTIALS_AUTH = "broker.plugins.auth.CredentialsAuthPlugin"
TOPIC_ACL = "broker.plugins.acl.TopicAclPlugin"
CLIENT_CERT = "broker.plugins.auth.ClientCertPlugin"
TLS_LISTENER = "tls"


class BrokerStartError(RuntimeError):
    """The broker could not start listening (port taken, address not local, bad plugin)."""


@dataclass(frozen=True)
class RunningBroker:
    """A started broker: where clients connect, and the amqtt object for plugins and tests."""

    host: str
    port: int
    settings: BrokerSettings
    broker: Broker
    tls_port: int | None = None
    """Port of the TLS listener; None without one."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"

    @property
    def tls_url(self) -> str | None:
        if self.tls_port is None:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtts://{host}:{self.tls_port}"

    @property
    def denied(self) -> dict[str, int]:
        """Denied attempts so far: `connect_credentials`, `connect_anonymous`, `publish`,
        `subscribe`, `receive` (deliveries filtered out of wide subscriptions),
        `connect_certificate` (client certificate CN not the username), `connect_client_id`
        (another device's client id), `connect_takeover` (another identity's session)."""
        counts: dict[str, int] = {}
        for plugin in self.broker.plugins_manager.plugins:
            if isinstance(plugin, CredentialsAuthPlugin | TopicAclPlugin | ClientCertPlugin):
                for key, value in plugin.denied.items():
                    counts[key] = counts.get(key, 0) + value
        return counts


class SnapshotDict(dict[str, list[tuple[Session, int]]]):
    """The broker's subscription table, iterated over a snapshot.

    amqtt 0.12.1 awaits (ACL checks, retained publishes) while it iterates its subscription
    dict; a client subscribing or leaving meanwhile raised `RuntimeError: dictionary changed
    size during iteration`, which ended that message's broadcast half-way: the subscribers not
    yet served never got it (a lost QoS 1 message). Iterating a copy makes that impossible.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

    def items(self) -> Any:
        return list(super().items())

    def keys(self) -> Any:
        return list(super().keys())

    def values(self) -> Any:
        return list(super().values())


class GuardedBroker(Broker):  # type: ignore[misc]  # amqtt ships no py.typed
    """amqtt's broker, authenticating a CONNECT before it touches an existing session.

    Stock amqtt 0.12.1 deletes a clean session's namesake, or takes over a connected one,
    *before* asking the auth plugins: a refused client using a device's client id would
    still disconnect that device and drop its subscriptions. Here a refused CONNECT gets
    CONNACK "not authorized" and leaves every other session alone; `CredentialsAuthPlugin`
    refuses a CONNECT that would take another identity's session.

    Retained and queued messages go only where the ACL lets the receiver read them, and on
    CONNECT only for the session's own subscriptions (amqtt used every filter in its table).
    A resumed session gets its queued messages before any new one, each once; what a client
    published just before it disconnected is still broadcast.

    It also serves the TLS listener with `ssl_context` (broker/tls.py) instead of the context
    amqtt builds from file names, which never requires a client certificate.
    """

    def __init__(
        self, config: dict[str, Any], *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(config)
        self._ssl_context = ssl_context
        self._subscriptions: dict[str, list[tuple[Session, int]]] = SnapshotDict()
        self._accepting = asyncio.Event()

    def accept_clients(self) -> None:
        """Serve CONNECTs from now on; `running_broker()` calls it once start-up is complete."""
        self._accepting.set()

    async def _client_connected(self, listener_name: str, reader: Any, writer: Any) -> None:
        """Hold a new connection until start-up is complete.

        amqtt opens its listeners before its persistence plugin restores retained messages and
        before `expire_presence()` runs: an agent reconnecting in that window had its fresh
        `online` birth overwritten by the restored (or expired) one and looked offline for good.
        """
        await self._accepting.wait()
        await super()._client_connected(listener_name, reader, writer)

    def _create_ssl_context(self, listener: Any) -> ssl.SSLContext:
        if self._ssl_context is None:
            context: ssl.SSLContext = super()._create_ssl_context(listener)
            return context
        return self._ssl_context

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[Any, Any]:
        # GuardedHandler: keep-alive, checked packets, one-line errors (broker/handler.py).
        # Without auth plugins amqtt refuses every client too, just after touching sessions.
        handler, session = await GuardedHandler.init_from_connect(
            reader, writer, self.plugins_manager
        )
        if not await self._authenticate(session, None):
            session.parent = 0
            handler.attach(session, reader, writer)
            await handler.mqtt_connack_authorize(False)
            await writer.close()
            raise AMQTTError(f"client {session.client_id!r} not authorized")
        return await self._continue_session(handler, session)

    async def _continue_session(self, handler: Any, session: Any) -> tuple[Any, Any]:
        """The rest of amqtt's `_initialize_client_session`, after its CONNECT parsing."""
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            existing, _ = self._sessions[session.client_id]
            # clean_session too: a persistent CONNECT that finds its own earlier clean session
            # (amqtt drops those ~1 s after they end) kept the old flag and queued nothing.
            for name in ("clean_session", "will_flag", "will_message", "will_topic", "will_qos",
                         "keep_alive", "username", "password", "ssl_object"):  # fmt: skip
                setattr(existing, name, getattr(session, name))
            for name in (ACCOUNT_ATTR,):  # the account the auth plugin just established
                setattr(existing, name, getattr(session, name, None))
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):  # amqtt's read timeout: §3.1.2.10
            session.keep_alive = KEEP_ALIVE_GRACE * session.keep_alive + delay
        return handler, session

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        """Send the retained messages of one of `session`'s own subscriptions that it may read.

        amqtt calls this on SUBSCRIBE and, on CONNECT, with every filter anyone subscribed to,
        and never asks the ACL (its live deliveries do): a device subscribed to nothing got
        other devices' retained `twin/desired`, and a wide filter got whatever it matched.
        """
        topic_filter = subscription[0]
        qos = self._granted_qos(session, topic_filter)
        handler = self._get_handler(session)
        if qos is None or handler is None:
            return
        readable = [
            (topic, retained.data, min(qos, retained.qos or 0))
            for topic, retained in self._retained_messages.copy().items()
            if self._matches(topic, topic_filter) and await self._may_receive(session, topic)
        ]
        await _publish_retained(handler, readable)

    async def _publish_session_retained_messages(self, session: Session) -> None:
        """Deliver what was queued for `session` while it was away, if it may still read it:
        its rights can have narrowed since, and a session restored from the database can
        have been resumed by a client its queue was not checked for.

        Broadcasts arriving meanwhile join the queue (`GuardedHandler.mqtt_publish`), so it is
        taken in rounds until empty; only then does the handler send broadcasts itself. If the
        client leaves first, the rest stays queued for its next connection.
        """
        handler = self._get_handler(session)
        guarded = isinstance(handler, GuardedHandler)
        queue = session.retained_messages
        while handler is not None and queue.qsize() and (not guarded or handler.serving):
            queued = [queue.get_nowait() for _ in range(queue.qsize())]
            readable = [
                (m.topic, m.data, m.qos)
                for m in queued
                if await self._may_receive(session, m.topic)
            ]
            await _publish_retained(handler, readable)
        if guarded and handler.serving:
            handler.go_live()

    async def _client_message_loop(self, client_session: Session, handler: Any) -> None:
        """amqtt's loop over a client's packets, then broadcast what it left unhandled.

        amqtt acknowledges a QoS 1/2 PUBLISH as soon as it queues it for this loop, but the
        loop ends at the client's DISCONNECT (or lost connection) having handled at most one
        more queued message. A client that published and disconnected at once lost the rest:
        acknowledged, never broadcast, neither delivered nor queued for anyone.
        """
        await super()._client_message_loop(client_session, handler)
        leftover = client_session.delivered_message_queue
        while not leftover.empty():
            received = asyncio.get_running_loop().create_future()
            received.set_result(leftover.get_nowait())
            await self._handle_message_delivery(client_session, handler, received)

    def _granted_qos(self, session: Session, topic_filter: str) -> int | None:
        """The QoS `session` holds `topic_filter` with; None if that is not its subscription."""
        for subscriber, qos in self._subscriptions.get(topic_filter, ()):
            if subscriber.client_id == session.client_id:
                return qos
        return None

    async def _may_receive(self, session: Session, topic: str) -> bool:
        allowed: bool = await self._topic_filtering(session, topic, Action.RECEIVE)
        return allowed


async def _publish_retained(handler: Any, messages: list[tuple[str, Any, Any]]) -> None:
    """Publish `(topic, data, qos)` to one client with the retain flag, all at once."""
    tasks = [asyncio.ensure_future(handler.mqtt_publish(*m, retain=True)) for m in messages]
    if tasks:
        await asyncio.wait(tasks)


class PayloadLimitPlugin(BaseTopicPlugin):  # type: ignore[misc]  # amqtt ships no py.typed
    """Drops PUBLISH packets whose payload exceeds `max_payload_bytes` (0: no limit).

    amqtt has no size limit and topic plugins never see payloads, so the limit takes two
    steps: the `message_received` event, which the broker schedules just before it asks the
    topic plugins, notes an oversized message; the publish check then denies it.
    """

    @dataclass
    class Config:
        max_payload_bytes: int = 0
        """Largest payload forwarded; 0 disables the check."""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._limit: int = self.config.max_payload_bytes
        self._oversized: set[tuple[str, str]] = set()

    async def on_broker_message_received(
        self, *, client_id: str, message: ApplicationMessage | None
    ) -> None:
        if message is not None and self._limit and len(message.data or b"") > self._limit:
            log.warning(
                "dropped %d-byte message from %s on %s: limit is %d bytes",
                len(message.data),
                client_id,
                message.topic,
                self._limit,
            )
            self._oversized.add((client_id, message.topic))

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        if action != Action.PUBLISH or session is None or not self._oversized:
            return True
        key = (str(session.client_id), str(topic))
        if key in self._oversized:
            self._oversized.discard(key)
            return False
        return True


def amqtt_config(settings: BrokerSettings) -> dict[str, Any]:
    """The amqtt 0.12.1 config dict for `settings`, with an explicit plugin list."""
    plugins: dict[str, dict[str, Any]] = {}
    if settings.access_control:
        plugins[CREDENTIALS_AUTH] = _auth_config(settings)
        plugins[TOPIC_ACL] = {
            "prefix": settings.topic_prefix,
            "demo": settings.demo,
            "ha_prefix": settings.ha_discovery_prefix or None,
        }
    else:
        plugins[ANONYMOUS_AUTH] = {"allow_anonymous": settings.allow_anonymous}
    if settings.tls_port is not None and settings.tls_cafile is not None:
        plugins[CLIENT_CERT] = {}  # client certificates are verified: bind their CN
    if settings.max_payload_bytes:
        plugins[PAYLOAD_LIMIT] = {"max_payload_bytes": settings.max_payload_bytes}
    if settings.persistence:
        plugins[SESSION_DB] = {
            "connection": f"sqlite+aiosqlite:///{settings.database.resolve()}",
            "clear_on_shutdown": False,  # a clean restart must keep sessions and retained messages
        }
    listeners: dict[str, dict[str, Any]] = {"default": {"type": "tcp", "bind": settings.bind}}
    files = settings.tls_files
    if files is not None:
        listeners[TLS_LISTENER] = {
            "type": "tcp",
            "bind": settings.tls_bind,
            "ssl": True,
            # informational: GuardedBroker serves the context from broker.tls.server_context
            "certfile": str(files.certfile.resolve()),
            "keyfile": str(files.keyfile.resolve()),
            **({"cafile": str(files.cafile.resolve())} if files.cafile else {}),
        }
    return {"listeners": listeners, "plugins": plugins}


def _auth_config(settings: BrokerSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "demo": settings.demo,
        "cache_ttl_s": float(settings.auth_cache_ttl_s),
    }
    if settings.credentials_file is not None:
        config["credentials_file"] = str(settings.credentials_file.resolve())
    if settings.hub_url is not None and settings.hub_service_key is not None:
        config["hub_url"] = settings.hub_url
        config["hub_service_key"] = settings.hub_service_key.get_secret_value()
    return config


def _bound_port(broker: Broker, fallback: int, listener: str = "default") -> int:
    """The port actually bound (differs from the setting when that is 0)."""
    server = broker._servers.get(listener)  # amqtt keeps listeners private
    sockets = getattr(getattr(server, "instance", None), "sockets", None) or ()
    for sock in sockets:
        return int(sock.getsockname()[1])
    return fallback


@asynccontextmanager
async def running_broker(settings: BrokerSettings | None = None) -> AsyncIterator[RunningBroker]:
    """Start the broker, yield where it listens, and shut it down cleanly on exit."""
    settings = settings or BrokerSettings()
    if settings.persistence:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    files = settings.tls_files
    where = settings.bind if files is None else f"{settings.bind} and {settings.tls_bind} (TLS)"
    try:
        context = None if files is None else server_context(files)
        broker = GuardedBroker(amqtt_config(settings), ssl_context=context)
        await broker.start()
        await expire_presence(broker, settings.topic_prefix)
        broker.accept_clients()
    except (BrokerError, PluginError, PluginLoadError, OSError, TlsConfigError) as exc:
        cause = exc.__cause__ or exc
        raise BrokerStartError(f"broker could not start on {where}: {cause}") from exc
    tls_port = None
    if settings.tls_port is not None:
        tls_port = _bound_port(broker, settings.tls_port, TLS_LISTENER)
    handle = RunningBroker(
        settings.host, _bound_port(broker, settings.port), settings, broker, tls_port
    )
    if handle.tls_url is not None:
        log.info("broker TLS listener on %s", handle.tls_url)
    log.info("broker listening on %s", handle.url)
    try:
        yield handle
    finally:
        await broker.shutdown()
