"""The benchmarks' MQTT client: publish requests, time each result by its rid.

A paho client whose network loop is a thread; results, errors and agent statuses are kept
under one condition variable so the measuring thread can wait for them."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract import Topics
from contract.health import DeviceState
from edgefleet.procs.process import tail

RESULT_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0
_KINDS = ("status", "result", "error")
RESULTS_KEPT = 10_000  # recent rids answered by a result: an error after one is not an answer


class Client:
    """Subscribes to every device's status, result and error topics on a loopback broker
    (and to `health` when asked: the latest heartbeat per device is kept)."""

    def __init__(self, port: int, name: str, *, health: bool = False) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.topics = Topics()
        self.cond = threading.Condition()
        self.received: dict[str, tuple[float, bytes]] = {}  # rid -> (perf_counter, payload)
        self._results: OrderedDict[str, None] = OrderedDict()  # rids answered by a result
        self.statuses: dict[str, str] = {}
        self.health: dict[str, dict[str, Any]] = {}  # device -> its latest heartbeat
        self.sourced: list[bytes] = []  # results without a rid: sensors' and cameras'
        self.in_flight: threading.Semaphore | None = None  # released per answer when set
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{name}-{os.getpid()}",
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=60)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # no Nagle delay on our requests
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        kinds = (*_KINDS, "health") if health else _KINDS
        self.client.subscribe([(self.topics.filter(k), 1) for k in kinds])  # type: ignore[arg-type]
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK from the broker")

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        now = time.perf_counter()
        try:
            parsed = self.topics.parse(message.topic)
        except Exception:
            return
        with self.cond:
            kind = parsed.kind.value
            if kind == "status":
                with contextlib.suppress(Exception):
                    self.statuses[parsed.device] = json.loads(message.payload)["state"]
            elif kind == "health":
                with contextlib.suppress(Exception):
                    self.health[parsed.device] = json.loads(message.payload)
            elif parsed.rid is not None and kind == "result":
                self._answered(parsed.rid, now, bytes(message.payload), result=True)
            elif kind == "result":
                self.sourced.append(bytes(message.payload))
            elif kind == "error":
                rid = parsed.rid
                if rid is None:
                    with contextlib.suppress(Exception):
                        rid = json.loads(message.payload).get("rid")
                if rid:
                    self._answered(rid, now, bytes(message.payload), result=False)
            self.cond.notify_all()

    def _answered(self, rid: str, now: float, payload: bytes, *, result: bool) -> None:
        """A request's answer: its result, or an error when no result came. An error after
        the result is a follow-up, not the answer (a wake word's spoken command the hub could
        not hear: docs/voice-commands.md), and is not counted."""
        if rid in self._results:
            return
        if result:
            self._results[rid] = None
            while len(self._results) > RESULTS_KEPT:
                self._results.popitem(last=False)
        self.received[rid] = (now, payload)
        if self.in_flight is not None:
            self.in_flight.release()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def online(self, device: str, timeout: float) -> bool:
        """Whether `device` reports `online` within `timeout` s."""
        return self.wait(lambda: self.statuses.get(device) == DeviceState.ONLINE, timeout)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


_rid_counter = itertools.count(1)


def new_rid(prefix: str) -> str:
    """A request id unique in this process."""
    return f"{prefix}{next(_rid_counter):07d}"


def request(client: Client, device: str, model: str, payload: bytes) -> tuple[float, bytes]:
    """One request, waited for: (latency ms, result payload)."""
    rid = new_rid("s")
    topic = client.topics.infer(device, model, rid)
    t0 = time.perf_counter()
    client.publish(topic, payload)
    if not client.wait(lambda: rid in client.received, RESULT_TIMEOUT_S):
        raise TimeoutError(f"no result for {rid} within {RESULT_TIMEOUT_S:.0f} s")
    with client.cond:
        t1, body = client.received.pop(rid)
    return (t1 - t0) * 1000, body


def any_received(client: Client, rids: tuple[str, ...]) -> bool:
    return any(r in client.received for r in rids)


def wait_online(
    client: Client,
    device: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float = START_TIMEOUT_S,
) -> None:
    """Until the agent `device` (running as `proc`) reports online; raise if it exits."""

    def ready() -> bool:
        return client.statuses.get(device) == DeviceState.ONLINE or proc.poll() is not None

    if not client.wait(ready, timeout):
        raise RuntimeError(f"agent {device} not online after {timeout:.0f} s")
    if proc.poll() is not None:
        raise RuntimeError(f"agent {device} exited ({proc.returncode}):\n{tail(log)}")
