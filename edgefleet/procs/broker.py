"""An MQTT broker as a child process on a free loopback port: Mosquitto or our amqtt.

Anonymous clients are allowed: benchmarks measure messaging, not access control."""

from __future__ import annotations

import contextlib
import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

from cloud_hub.serving import free_port
from edgefleet.procs.process import edgefleet_command, spawn, stop_process
from edgefleet.procs.wait import StartError, port_open, wait_until

BROKERS = ("amqtt", "mosquitto")
START_TIMEOUT_S = 30.0
BIND_ATTEMPTS = 3  # the machine may be shared: a free port can be taken before we bind it


def mosquitto_path() -> str | None:
    """Debian's mosquitto binary, if installed (it lives in /usr/sbin, often not on PATH)."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None
    )


def broker_kind(wanted: str) -> str:
    """`auto`: Mosquitto if installed, else amqtt; any other name as it is."""
    if wanted == "auto":
        return "mosquitto" if mosquitto_path() else "amqtt"
    return wanted


def mosquitto_conf(port: int, *, max_queued_messages: int, tcp_nodelay: bool) -> str:
    """A loopback-only, anonymous, in-memory Mosquitto that logs errors and warnings."""
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        *(["set_tcp_nodelay true"] if tcp_nodelay else []),
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        f"max_queued_messages {max_queued_messages}",
    ]
    return "\n".join(lines) + "\n"


def broker_command(
    kind: str, port: int, workdir: Path, *, max_queued_messages: int, tcp_nodelay: bool
) -> list[str]:
    if kind == "amqtt":
        host = ["--host", "127.0.0.1", "--port", str(port)]
        return [*edgefleet_command(), "broker", *host, "--allow-anonymous"]
    if kind != "mosquitto":
        raise ValueError(f"unknown broker {kind!r}; choose from {list(BROKERS)}")
    mosquitto = mosquitto_path()
    if mosquitto is None:
        raise StartError("mosquitto is not installed (apt-get install mosquitto)")
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        mosquitto_conf(port, max_queued_messages=max_queued_messages, tcp_nodelay=tcp_nodelay)
    )
    return [mosquitto, "-c", str(conf)]


@dataclass(frozen=True, slots=True)
class RunningBroker:
    """Where a started broker listens, and its process (a benchmark reads its CPU time)."""

    port: int
    pid: int


@contextlib.contextmanager
def running_broker(
    kind: str,
    workdir: Path,
    *,
    max_queued_messages: int = 10_000,
    tcp_nodelay: bool = True,
    timeout: float = START_TIMEOUT_S,
) -> Iterator[RunningBroker]:
    """A broker (`amqtt` or `mosquitto`) on a free loopback port, logging to
    `<workdir>/<kind>.log`; yields it once it accepts connections, stops it after."""
    last: Exception | None = None
    workdir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(BIND_ATTEMPTS):
        port = free_port()
        argv = broker_command(
            kind, port, workdir, max_queued_messages=max_queued_messages, tcp_nodelay=tcp_nodelay
        )
        proc = spawn(argv, log=workdir / f"{kind}.log")
        try:
            wait_until(
                functools.partial(port_open, port),
                proc,
                timeout=timeout,
                what=f"{kind} broker on port {port}",
                interval=0.05,
            )
        except StartError as exc:
            stop_process(proc)
            last = exc
            continue
        try:
            yield RunningBroker(port, proc.pid)
        finally:
            stop_process(proc)
        return
    raise StartError(f"{kind} broker did not start: {last}")


class BrokerOptions(TypedDict, total=False):
    """`running_broker`'s keyword arguments, for the wrappers that pass them on."""

    max_queued_messages: int
    tcp_nodelay: bool
    timeout: float


@contextlib.contextmanager
def broker_process(kind: str, workdir: Path, **options: Unpack[BrokerOptions]) -> Iterator[int]:
    """`running_broker`, yielding only its port."""
    with running_broker(kind, workdir, **options) as broker:
        yield broker.port
