"""Real processes for offload/outbox benchmarks and tests: the hub, agents, a bounded CPU
stress and a loopback TCP delay proxy. All bind 127.0.0.1 on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cloud_hub.serving import free_port

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))
ADMIN_KEY = "efk_bench-admin-key-0123456789abcdef"


def _spawn(
    argv: list[str], log: Path, env: dict[str, str], cpus: set[int] | None = None
) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    try:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
    finally:
        out.close()
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(proc.pid, cpus)
    return proc


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class HubProcess:
    """`edgefleet hub` on a free port with its SQLite database in `workdir`."""

    workdir: Path
    mqtt_port: int
    port: int = field(default_factory=free_port)
    cloud_models: Sequence[str] = ("face-detect-full",)
    cpus: set[int] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / "hub.db"

    def start(self, timeout: float = 30.0) -> None:
        env = {
            "EDGEFLEET_DATA_DIR": str(self.workdir),
            "EDGEFLEET_PORT": str(self.port),
            "EDGEFLEET_ADMIN_API_KEY": ADMIN_KEY,
            "EDGEFLEET_MQTT_PORT": str(self.mqtt_port),
            "EDGEFLEET_MQTT_CLIENT_ID": f"hub-{self.port}",
            "EDGEFLEET_CLOUD_MODELS": json.dumps(list(self.cloud_models)),
            "EDGEFLEET_HEARTBEAT_INTERVAL_S": "1",
            "EDGEFLEET_INGEST_FLUSH_S": "0.02",
            "EDGEFLEET_LOG_JSON": "false",
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = _spawn([EDGEFLEET, "hub"], self.workdir / "hub.log", env, self.cpus)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (
                    httpx.get(f"{self.url}/readyz", headers=self.admin, timeout=1).status_code
                    == 200
                ):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"hub not ready within {timeout}s: {self.log_tail()}")

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def log_tail(self) -> str:
        path = self.workdir / "hub.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self) -> None:
        stop(self.proc, signal.SIGKILL)

    def terminate(self) -> None:
        stop(self.proc)

    def create_device(self, device_id: str) -> str:
        """Register a device directly (admin); returns its secret."""
        r = httpx.post(
            f"{self.url}/api/v1/devices", json={"id": device_id}, headers=self.admin, timeout=10
        )
        r.raise_for_status()
        secret: str = r.json()["device_secret"]
        return secret


@dataclass
class AgentProcess:
    """`edgefleet agent --config` with its own state dir (outbox, hard samples)."""

    workdir: Path
    config: dict[str, Any]
    cpus: set[int] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def device(self) -> str:
        return str(self.config["device_id"])

    @property
    def state_dir(self) -> Path:
        return self.workdir / f"state-{self.device}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"{self.device}.yaml"
        path.write_text(json.dumps(self.config, indent=2))
        env = {"EDGEFLEET_STATE_DIR": str(self.state_dir)}
        argv = [EDGEFLEET, "agent", "--config", str(path), "--log-level", "INFO"]
        self.proc = _spawn(argv, self.workdir / f"{self.device}.log", env, self.cpus)

    def log_tail(self) -> str:
        path = self.workdir / f"{self.device}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        stop(self.proc)


def agent_config(
    device: str,
    broker_port: int,
    *,
    secret: str | None = None,
    hub_url: str | None = None,
    models: Sequence[str] = ("face-detect-lite",),
    **extra: Any,
) -> dict[str, Any]:
    broker: dict[str, Any] = {"host": "127.0.0.1", "port": broker_port, "reconnect_max_s": 1.0}
    if secret is not None:
        broker |= {"username": device, "password": secret}
    config: dict[str, Any] = {
        "device_id": device,
        "broker": broker,
        "models": list(models),
        "health_interval_s": 1.0,
        **extra,
    }
    if hub_url is not None:
        config["hub"] = {"url": hub_url}
    return config


# ------------------------------------------------------------------------- CPU stress, delay


def _burn(deadline: float) -> None:  # pragma: no cover - runs in the stress processes
    x = 0
    while time.monotonic() < deadline:
        x += 1


@contextlib.contextmanager
def cpu_stress(
    processes: int, seconds: float, cpus: set[int] | None = None, nice: int = 0
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`processes` busy loops, each ending by itself after `seconds` (bounded), pinned to
    `cpus` when given, at priority `nice` (negative needs privileges; ignored without them);
    stopped on exit of the block."""
    code = (
        "import time\n"
        f"d = time.monotonic() + {seconds}\n"
        "x = 0\n"
        "while time.monotonic() < d:\n"
        "    x += 1\n"
    )
    procs = []
    for _ in range(processes):
        p = subprocess.Popen([sys.executable, "-c", code])
        if cpus and hasattr(os, "sched_setaffinity"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(p.pid, cpus)
        if nice:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, p.pid, nice)
        procs.append(p)
    try:
        yield procs
    finally:
        for p in procs:
            stop(p, signal.SIGKILL)


class DelayProxy:
    """A loopback TCP proxy adding `delay_ms` to every chunk in each direction, in a thread.

    `delay` (seconds, round trip) may be changed while it runs; `sent` counts the bytes
    forwarded to the target (what a device sends to the cloud, HTTP headers included)."""

    def __init__(self, target_port: int, delay_ms: float = 0.0) -> None:
        self.target_port, self.delay = target_port, delay_ms / 1000.0
        self.sent = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("delay proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_w, True), self._pipe(up_r, writer))

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool = False
    ) -> None:
        """Each chunk is delivered `delay` after it arrived (one-way latency, not serialised)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(forward())
        try:
            while True:
                data = await reader.read(65536)
                if up:
                    self.sent += len(data)
                queue.put_nowait((time.monotonic() + self.delay / 2, data))
                if not data:
                    break
            await sender
        except (ConnectionError, asyncio.CancelledError):
            sender.cancel()
        finally:
            with contextlib.suppress(Exception):
                writer.close()
