"""What `edgefleet bench hub` measures and at which sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgefleet.bench.report import DEFAULT_OUT


@dataclass
class HubBenchConfig:
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    brokers: tuple[str, ...] = ("mosquitto", "amqtt")
    devices: int = 200  # heartbeat senders in the ingest runs
    messages: int = 40_000  # heartbeats per ingest run
    fleet_devices: int = 10_000  # registered devices for the fleet API
    requests: int = 300  # measured requests per fleet API call
    out: Path = DEFAULT_OUT
    extra: dict[str, Any] = field(default_factory=dict)
