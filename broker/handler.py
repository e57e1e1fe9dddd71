"""`GuardedHandler`: amqtt's broker protocol handler reading through a `PacketGuard`.

amqtt 0.12.1 trusts the byte stream. It never enforces keep-alive, so a half-open client
(SIGSTOPped process, cut network) never triggers its Will; it waits forever for a CONNECT or
for the rest of a packet; and it decodes whatever arrives: an invalid UTF-8 topic becomes the
string "b'...'", a QoS 3 PUBLISH or a SUBSCRIBE with wrong flags is served, and a packet it
misparses (wildcard topic, wrong length) leaves it reading the next packet from the middle of
this one. Here each packet is read whole and checked before amqtt decodes it. A bad one, or
silence past 1.5 x keep-alive (MQTT 3.1.1 §3.1.2.10: `GuardedBroker` makes that amqtt's read
timeout), ends the connection as amqtt ends a lost one: abnormally, so the Will is published
(§3.1.2.5, §4.8).
"""

import asyncio
import logging
from contextlib import suppress
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import RetainedApplicationMessage
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.constants import QOS_1, QOS_2
from amqtt.mqtt.packet import (
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBSCRIBE,
    UNSUBSCRIBE,
)
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import OutgoingApplicationMessage, Session

from broker.settings import MQTT_MAX_PAYLOAD

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
"""A new connection must deliver its whole CONNECT within this; amqtt would wait forever."""
KEEP_ALIVE_GRACE = 1.5
"""§3.1.2.10: a client silent for 1.5 x its keep-alive is disconnected."""
TOPIC_ROOM = 2 + 0xFFFF + 2
"""At most this much of a PUBLISH is not payload: topic length, topic, packet id."""
MAX_CONNECT_BYTES = 10 + 5 * (2 + 0xFFFF)
"""Largest 3.1.1 CONNECT: a 10-byte variable header and five length-prefixed fields."""

NAMES = ("reserved type 0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
         "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",
         "DISCONNECT", "reserved type 15")  # fmt: skip
FLAGS = {CONNECT: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBSCRIBE: 2,
         UNSUBSCRIBE: 2, PINGREQ: 0, DISCONNECT: 0}  # fmt: skip
"""Fixed-header flags of each packet a client may send (§2.2.2); PUBLISH has its own rule."""
SIZES = {PUBACK: 2, PUBREC: 2, PUBREL: 2, PUBCOMP: 2, PINGREQ: 0, DISCONNECT: 0}
"""Remaining length of the fixed-size packets: amqtt reads exactly this much of them."""


class Refused(NoDataError):  # type: ignore[misc]  # amqtt ships no py.typed
    """A packet broke the protocol. A NoDataError, because amqtt's reader loop takes that for
    the end of the stream: it stops reading and ends the session as a lost connection."""


class _Malformed(ValueError):
    """A field of a packet body is missing or invalid; the message says which rule."""


class _Body:
    """Reads the fields of one packet body (§1.5), raising `_Malformed` on the first bad one."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    @property
    def left(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        if n > self.left:
            raise _Malformed("packet shorter than its fields")
        self._pos += n
        return self._data[self._pos - n : self._pos]

    def number(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def blob(self) -> bytes:
        return self.take(self.number())

    def text(self, what: str) -> str:
        try:
            text = self.blob().decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed(f"{what} is not valid UTF-8 [MQTT-1.5.3-1]") from None
        if "\x00" in text:
            raise _Malformed(f"{what} contains U+0000 [MQTT-1.5.3-2]")
        return text

    def packet_id(self) -> None:
        if self.number() == 0:
            raise _Malformed("packet identifier 0 [MQTT-2.3.1-1]")


def header_problem(kind: int, flags: int, *, connecting: bool) -> str | None:
    """Why a fixed header's first byte is not one this client may send now, or None."""
    if connecting != (kind == CONNECT):
        first = f"first packet is {NAMES[kind]}, not CONNECT [MQTT-3.1.0-1]"
        return first if connecting else "second CONNECT [MQTT-3.1.0-2]"
    if kind == PUBLISH:
        return "PUBLISH with QoS 3 [MQTT-3.3.1-4]" if flags & 0x06 == 0x06 else None
    if kind not in FLAGS:
        return f"{NAMES[kind]} is not a packet a client sends [MQTT-2.2.1]"
    if flags != FLAGS[kind]:
        return f"{NAMES[kind]} with reserved flags {flags:#06b} [MQTT-2.2.2-2]"
    return None


def body_problem(kind: int, flags: int, data: bytes) -> str | None:
    """Why a packet body is malformed, or None; checked on the raw bytes amqtt would decode."""
    if kind in SIZES and len(data) != SIZES[kind]:
        return f"{NAMES[kind]} of {len(data)} bytes instead of {SIZES[kind]}"
    body = _Body(data)
    try:
        if kind == PUBLISH:
            _check_publish(body, qos=(flags >> 1) & 3)
        elif kind in (SUBSCRIBE, UNSUBSCRIBE):
            _check_filters(body, subscribe=kind == SUBSCRIBE)
        elif kind == CONNECT:
            _check_connect(body)
    except _Malformed as exc:
        return f"{NAMES[kind]}: {exc}"
    return None


def _check_publish(body: _Body, *, qos: int) -> None:
    topic = body.text("topic")
    if not topic:
        raise _Malformed("empty topic [MQTT-4.7.3-1]")
    if "+" in topic or "#" in topic:
        raise _Malformed(f"wildcard in topic {topic!r} [MQTT-3.3.2-2]")
    if topic.startswith("$"):  # amqtt refuses it, then stops delivering to the connection
        raise _Malformed(f"topic {topic!r} starts with $, reserved for the broker [MQTT-4.7.2]")
    if qos:
        body.packet_id()


def _check_filters(body: _Body, *, subscribe: bool) -> None:
    body.packet_id()
    if not body.left:
        raise _Malformed("no topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2]")
    while body.left:
        body.text("topic filter")
        if subscribe and body.take(1)[0] > 2:
            raise _Malformed("requested QoS above 2 [MQTT-3.8.3-4]")


def _check_connect(body: _Body) -> None:
    if (body.text("protocol name"), body.take(1)[0]) != ("MQTT", 4):
        return  # not 3.1.1: amqtt refuses it with the right CONNACK
    flags, _keep_alive = body.take(1)[0], body.take(2)
    body.text("client id")
    if flags & 0x04:
        body.text("will topic")
        body.blob()
    elif flags & 0x38:
        raise _Malformed("will QoS or retain without a will [MQTT-3.1.2-13] [MQTT-3.1.2-15]")
    if flags & 0x18 == 0x18:
        raise _Malformed("will QoS 3 [MQTT-3.1.2-14]")
    if flags & 0x80:
        body.text("user name")
    if flags & 0x40:
        body.blob()  # the password is binary data (§3.1.3.5)
    if body.left:
        raise _Malformed(f"{body.left} bytes after the last field")


class PacketGuard(ReaderAdapter):  # type: ignore[misc]  # amqtt ships no py.typed
    """The reader amqtt gets: one whole, checked packet at a time.

    The whole packet is read when amqtt asks for its first byte, so amqtt's read timeout
    (1.5 x keep-alive) bounds all of it, not only its fixed header: a packet started and never
    finished ends the connection too.
    """

    def __init__(self, inner: ReaderAdapter, *, limit: int, connecting: bool) -> None:
        self._inner = inner
        self._limit, self._connecting = limit, connecting
        self._pending = bytearray()
        self._frame, self._pos = b"", 0
        self.violation: str | None = None
        """Why the connection ends; once set, every read fails with `Refused`."""

    async def read(self, n: int = -1) -> bytes:
        if self.violation is not None:
            raise Refused(self.violation)
        if n == 0:
            return b""
        if self._pos == len(self._frame):
            self._frame, self._pos = await self._receive(), 0
        end = len(self._frame) if n < 0 else self._pos + n
        if end > len(self._frame):  # amqtt reads on past a packet it does not understand
            self._pos = len(self._frame)
            raise NoDataError("read past the end of the packet")
        chunk, self._pos = self._frame[self._pos : end], end
        return chunk

    def feed_eof(self) -> None:
        self._inner.feed_eof()

    async def _receive(self) -> bytes:
        try:
            return await self._assemble()
        except (OSError, asyncio.IncompleteReadError):
            raise NoDataError("connection closed") from None

    async def _assemble(self) -> bytes:
        await self._fill(1)
        kind, flags = self._pending[0] >> 4, self._pending[0] & 0x0F
        self._check(header_problem(kind, flags, connecting=self._connecting))
        length, start = await self._remaining_length()
        if length > self._limit:
            raise self._refuse(f"{NAMES[kind]} of {length} bytes, more than {self._limit}")
        await self._fill(start + length)
        frame = bytes(self._pending)
        self._pending.clear()
        self._check(body_problem(kind, flags, frame[start:]))
        return frame

    async def _remaining_length(self) -> tuple[int, int]:
        """The remaining length (§2.2.3, at most four bytes) and where the body starts."""
        for end in range(2, 6):
            await self._fill(end)
            if not self._pending[end - 1] & 0x80:
                digits = self._pending[1:end]
                return sum((b & 0x7F) << (7 * i) for i, b in enumerate(digits)), end
        raise self._refuse("remaining length longer than four bytes [MQTT-2.2.3]")

    async def _fill(self, size: int) -> None:
        if len(self._pending) < size:
            self._pending += await self._inner.read(size - len(self._pending))

    def _check(self, problem: str | None) -> None:
        if problem is not None:
            raise self._refuse(problem)

    def _refuse(self, problem: str) -> Refused:
        self.violation = problem
        return Refused(problem)


class GuardedHandler(BrokerProtocolHandler):  # type: ignore[misc]  # amqtt ships no py.typed
    """amqtt's broker protocol handler behind a `PacketGuard`, closing quietly.

    A client that vanishes while amqtt answers or closes it made amqtt raise ECONNRESET or
    ENOTCONN out of its connection callback: a traceback in the log per such client. Those
    paths end here in one warning line instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard: PacketGuard | None = None
        self._reported = False
        self._live = False

    @property
    def serving(self) -> bool:
        """Started, and the client has neither sent DISCONNECT nor gone: amqtt drops its
        disconnect waiter on either (BrokerProtocolHandler.handle_disconnect)."""
        waiter = self._disconnect_waiter
        return waiter is not None and not waiter.done()

    def go_live(self) -> None:
        """Send broadcasts from now on; `GuardedBroker` calls it once the session's queue is
        empty (`_publish_session_retained_messages`)."""
        self._live = True

    async def mqtt_publish(
        self,
        topic: str,
        data: bytes | bytearray,
        qos: int | None,
        retain: bool,
        ack_timeout: int | None = None,
    ) -> OutgoingApplicationMessage:
        """Until `go_live()`, queue a QoS 1/2 broadcast behind the session's queued messages.

        amqtt marks a (re)connecting session connected before it starts this handler and sends
        what was queued while the client was away (amqtt/broker.py `_handle_client_session`).
        A message broadcast in between went out at once, ahead of the older queued ones, and
        when it came before `start()` it went out twice: `start()` resends everything in flight
        (`_retry_deliveries`), taking it for a leftover of the last connection. Queued here, it
        is sent in order by the same drain, or kept for the next connection if this one ends
        first. Live broadcasts are amqtt's only retain=False publishes; the drain's are retained.
        """
        if not self._live and not retain and qos in (QOS_1, QOS_2) and self.session is not None:
            queued = RetainedApplicationMessage(None, topic, data, qos)
            self.session.retained_messages.put_nowait(queued)
            return OutgoingApplicationMessage(None, topic, qos, data, retain)
        message: OutgoingApplicationMessage = await super().mqtt_publish(
            topic, data, qos, retain, ack_timeout
        )
        return message

    @classmethod
    async def init_from_connect(
        cls,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        plugins_manager: Any,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> tuple["GuardedHandler", Session]:
        """amqtt's CONNECT handling, bounded in time and checked; every failure is closed and
        raised as one AMQTTError, which the broker logs as a one-line warning."""
        guard = PacketGuard(reader, limit=MAX_CONNECT_BYTES, connecting=True)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                handler, session = await super().init_from_connect(
                    guard, writer, plugins_manager, loop
                )
        except (AMQTTError, MQTTError, NoDataError, OSError) as exc:
            await close_quietly(writer)
            raise AMQTTError(guard.violation or _connect_failure(exc)) from exc
        return handler, session

    def attach(self, session: Session, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        limit = packet_limit(self.plugins_manager)
        self._guard = PacketGuard(reader, limit=limit, connecting=False)
        super().attach(session, self._guard, writer)

    def handle_read_timeout(self) -> None:
        """Nothing arrived within amqtt's read timeout, 1.5 x keep-alive (`GuardedBroker`).

        amqtt only logs this and reads on. Failing the next read instead ends the session the
        way amqtt ends a lost connection: the Will is published.
        """
        if self._guard is not None and self._guard.violation is None:
            timeout = self.session.keep_alive if self.session is not None else 0
            self._guard.violation = f"no packet for {timeout:g} s (1.5 x keep-alive)"

    async def handle_connection_closed(self) -> None:
        """Say once why the guard ended the connection; amqtt then publishes the Will."""
        problem = self._guard.violation if self._guard is not None else None
        if problem is not None and not self._reported:
            self._reported = True
            client = self.session.client_id if self.session is not None else "?"
            log.warning("closing the connection of client %r: %s", client, problem)
        await super().handle_connection_closed()

    async def mqtt_connack_authorize(self, authorize: bool) -> None:
        """Close a refused client here, quietly: amqtt's close after this raises if it left."""
        await super().mqtt_connack_authorize(authorize)
        if not authorize and self.writer is not None:
            await close_quietly(self.writer)


def _connect_failure(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return f"no complete CONNECT within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(exc, NoDataError):
        return "connection closed before a complete CONNECT"
    if isinstance(exc, OSError):
        return f"client gone during CONNECT ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


async def close_quietly(writer: WriterAdapter) -> None:
    """Close a connection whose client may be gone already.

    amqtt's close drains and half-closes first, which raises ECONNRESET or ENOTCONN then and
    skips closing the socket; the transport is aborted instead, so no descriptor lingers.
    A second close is a no-op: the adapter marks itself closed first.
    """
    try:
        await writer.close()
    except OSError:
        stream = getattr(writer, "_writer", None)  # StreamWriterAdapter keeps it private
        if isinstance(stream, asyncio.StreamWriter):
            with suppress(OSError):
                stream.transport.abort()


def packet_limit(plugins_manager: Any) -> int:
    """Largest packet worth reading: with `max_payload_bytes` set (PayloadLimitPlugin), a
    bigger one can only be an oversized PUBLISH, which amqtt would buffer whole to drop."""
    limits = [getattr(getattr(p, "config", None), "max_payload_bytes", 0) or 0
              for p in plugins_manager.plugins]  # fmt: skip
    payload = max(limits, default=0)
    return payload + TOPIC_ROOM if payload else MQTT_MAX_PAYLOAD
