"""`edgefleet hub` as a child process on a free loopback port, SQLite in its work directory."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud_hub.serving import free_port
from contract.http import DEVICES, MODEL_CHECK, READYZ, SERVICES, path
from edgefleet.procs.process import edgefleet_command, spawn, stop_process, tail_chars
from edgefleet.procs.wait import StartError, wait_until

ADMIN_KEY = "efk_bench-admin-key-0123456789abcdef"  # benchmarks and tests only


def _ready(url: str, headers: dict[str, str], models_loaded: bool) -> bool:
    """Whether the hub's readiness checks pass, those of its models only if `models_loaded`."""
    import httpx

    try:
        checks: dict[str, str] = httpx.get(url, headers=headers, timeout=1.0).json()["checks"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return all(
        state == "ok"
        for name, state in checks.items()
        if models_loaded or not name.startswith(MODEL_CHECK)
    )


def hub_command(host: str | None = None, port: int | None = None) -> list[str]:
    """`edgefleet hub [--host H] [--port P]` (without them the settings decide)."""
    args = [*edgefleet_command(), "hub"]
    if host is not None:
        args += ["--host", host]
    if port is not None:
        args += ["--port", str(port)]
    return args


@dataclass
class HubProcess:
    """`edgefleet hub` on a free port with its SQLite database in `workdir`."""

    workdir: Path
    mqtt_port: int
    port: int = field(default_factory=free_port)
    cloud_models: Sequence[str] = (
        "face-detect-cloud",
        "face-detect-full",
        "wakeword-cloud",
        "engine-fault-cloud",
    )
    cpus: set[int] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # more EDGEFLEET_* settings
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / "hub.db"

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def env(self) -> dict[str, str]:
        return {
            "EDGEFLEET_DATA_DIR": str(self.workdir),
            "EDGEFLEET_PORT": str(self.port),
            "EDGEFLEET_ADMIN_API_KEY": ADMIN_KEY,
            "EDGEFLEET_MQTT_PORT": str(self.mqtt_port),
            "EDGEFLEET_MQTT_CLIENT_ID": f"hub-{self.port}",
            "EDGEFLEET_CLOUD_MODELS": json.dumps(list(self.cloud_models)),
            "EDGEFLEET_HEARTBEAT_INTERVAL_S": "1",
            "EDGEFLEET_INGEST_FLUSH_S": "0.02",
            "EDGEFLEET_LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def start(self, timeout: float = 30.0, *, models_loaded: bool = False) -> None:
        """Spawn the hub and return once it is ready (`/readyz`), its cloud models perhaps still
        loading unless `models_loaded` (loading them costs a test about 2 s under coverage; a
        request meanwhile waits for the load)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(
            hub_command(),
            log=self.workdir / "hub.log",
            env=self.env(),
            new_session=False,
            die_with_parent=False,
            cpus=self.cpus,
        )
        ready = functools.partial(_ready, f"{self.url}{READYZ}", self.admin, models_loaded)
        try:
            wait_until(ready, self.proc, timeout=timeout, what="hub")
        except StartError as exc:
            raise StartError(f"{exc}: {self.log_tail()}") from None

    def log_tail(self) -> str:
        return tail_chars(self.workdir / "hub.log")

    def kill(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig=signal.SIGKILL)

    def terminate(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def services(self, service_id: str) -> list[dict[str, Any]]:
        """The hub's registered instances of `service_id` on live devices (admin)."""
        import httpx

        r = httpx.get(
            self.url + path(SERVICES), params={"service_id": service_id}, headers=self.admin,
            timeout=10,
        )  # fmt: skip
        r.raise_for_status()
        listed: list[dict[str, Any]] = r.json()
        return listed

    def wait_for_gateway(self, gateway: subprocess.Popen[bytes] | None, timeout: float) -> None:
        """Until a site gateway (the agent process `gateway`) has registered its offer here:
        devices started after that find it at their first read of the site's list."""
        from contract.peers import PEER_SERVICE

        registered = lambda: bool(self.services(PEER_SERVICE))  # noqa: E731
        wait_until(registered, gateway, timeout=timeout, what="the gateway's registration")

    def create_device(self, device_id: str, site: str | None = None) -> str:
        """Register a device directly (admin), in `site` if given; returns its secret."""
        import httpx

        body = {"id": device_id, **({"site": site} if site else {})}
        r = httpx.post(self.url + path(DEVICES), json=body, headers=self.admin, timeout=10)
        r.raise_for_status()
        secret: str = r.json()["device_secret"]
        return secret
