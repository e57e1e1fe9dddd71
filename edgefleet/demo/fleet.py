"""What the demo runs: three devices, its options, fresh secrets, and what it started."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_WORKDIR = Path("var") / "demo"
READY_LINE = "edgefleet demo ready"

FACE_MODEL = "face-detect-lite"
WAKE_MODEL = "wakeword-lite"
DOOR_SENSOR_TOPIC = "sensors/door-cam/jpeg"


@dataclass(frozen=True)
class DemoDevice:
    device_id: str
    models: tuple[str, ...]
    sensors: tuple[dict[str, str], ...] = ()
    role: str = ""


DEVICES: tuple[DemoDevice, ...] = (
    DemoDevice(
        "door-cam",
        (FACE_MODEL,),
        ({"topic": DOOR_SENSOR_TOPIC, "model": FACE_MODEL, "content_type": "image/jpeg"},),
        "camera at the front door",
    ),
    DemoDevice("hall-cam", (FACE_MODEL,), (), "camera in the hall"),
    DemoDevice("kitchen-mic", (WAKE_MODEL,), (), "voice satellite in the kitchen"),
)


@dataclass
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    duration_s: float = 0.0
    interval_s: float = 1.0
    workdir: Path = DEFAULT_WORKDIR
    quiet: bool = False
    seed: int = 0
    agent_log_level: str = "INFO"
    hub_port: int = 8000
    health_interval_s: float = 5.0


@dataclass(frozen=True)
class DemoSecrets:
    """Fresh per run: the broker asks the hub who a client is (service key); the hub's bridge
    and the simulated sensors (an integrator account) log in like any other client."""

    service_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    hub_mqtt_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sensors_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    SENSORS_USER = "demo-sensors"


@dataclass
class Hub:
    """The demo's hub process and how to talk to it."""

    proc: subprocess.Popen[bytes]
    url: str
    admin_key: str
    log: Path


@dataclass
class Running:
    """What the demo started, for the startup summary and the shutdown."""

    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # the hub
    logs: dict[str, Path] = field(default_factory=dict)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (what, where) for the banner
    hub: Hub | None = None


class DemoError(RuntimeError):
    """The demo could not start one of its parts; the message says which and why."""


def say(text: str = "") -> None:
    print(text, flush=True)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
