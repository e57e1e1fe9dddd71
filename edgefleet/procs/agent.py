"""`edgefleet agent --config FILE` as a child process, and the configs it is started with.

Configs are written as JSON, which is valid YAML, so no YAML writer is needed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefleet.procs.process import edgefleet_command, spawn, stop_process, tail_chars

AGENT_PACKAGES = ("contract", "edge_agent", "edgefleet", "models", "mqttio")
"""Our packages an agent process imports (tests/e2e/test_agent_imports.py checks the rest)."""


def compile_agent() -> None:
    """Byte-compile the agent's packages where they live, as `pip install` does on a device:
    an agent started from a source tree would otherwise compile every module at each start
    (~50 ms of a cold start here, more with PYTHONDONTWRITEBYTECODE set, which stops Python
    from caching what it compiled)."""
    import compileall
    import importlib.util

    for name in AGENT_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=1)


def agent_config(
    device: str,
    broker_port: int,
    *,
    secret: str | None = None,
    hub_url: str | None = None,
    models: Sequence[str] = ("face-detect-lite",),
    **extra: Any,
) -> dict[str, Any]:
    """A loopback agent config: quick reconnects, a health message every second."""
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


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def write_agent_config(
    path: Path,
    device_id: str,
    models: Sequence[str],
    *,
    port: int,
    host: str = "127.0.0.1",
    sensors: Sequence[dict[str, str]] = (),
    health_interval_s: float = 5.0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an agent config for a broker at `host:port` (the demo's and the edge bench's)."""
    config: dict[str, Any] = {
        "device_id": device_id,
        "broker": {"host": host, "port": port},
        "models": list(models),
        "sensors": list(sensors),
        "health_interval_s": health_interval_s,
        **(extra or {}),
    }
    return write_config(path, config)


def agent_command(config: Path, log_level: str = "INFO") -> list[str]:
    return [*edgefleet_command(), "agent", "--config", str(config), "--log-level", log_level]


def spawn_agent(
    config: Path, *, log: Path | None = None, log_level: str = "INFO"
) -> subprocess.Popen[bytes]:
    """`edgefleet agent --config FILE` in its own session, dying with us."""
    return spawn(agent_command(config, log_level), log=log)


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

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.device}.log"

    def start(self) -> None:
        path = write_config(self.workdir / f"{self.device}.yaml", self.config)
        env = {"EDGEFLEET_STATE_DIR": str(self.state_dir), "PYTHONUNBUFFERED": "1"}
        self.proc = spawn(
            agent_command(path),
            log=self.log,
            env=env,
            new_session=False,
            die_with_parent=False,
            cpus=self.cpus,
        )

    def log_tail(self) -> str:
        return tail_chars(self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
