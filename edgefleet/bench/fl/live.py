"""The live federated measurement: real MQTT, real HTTP, real SQL.

A broker process (Mosquitto, else amqtt), the hub in this process's event loop on a free
loopback port with SQLite, and `clients` simulated devices - each its own MQTT session
subscribed to its `cmd/fl-train`, training its non-IID engine partition and uploading over
HTTP. Per round: aggregation time (hub side), bytes per update, accuracy of the version."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from cloud_hub.serving import free_port
from contract.http import DEVICES, ROUND, ROUND_UPDATES, ROUNDS, path
from edgefleet.bench.fl.config import FlBenchConfig
from edgefleet.procs.broker import broker_kind, broker_process
from edgefleet.procs.hub import ADMIN_KEY

ROUND_POLLS = 6000  # every 50 ms: at most 300 s per round


async def _client_loop(
    device: str,
    secret: str,
    hub_url: str,
    port: int,
    index: int,
    cfg: FlBenchConfig,
    ready: asyncio.Event,
) -> None:
    """One simulated device: train on each `fl-train` command it receives."""
    import aiomqtt

    from contract import Command, Topics, decode
    from edge_agent.config import parse_config
    from edge_agent.federated import FederatedClient

    config = parse_config(
        {
            "device_id": device,
            "models": ["engine-fault"],
            "hub": {"url": hub_url},
            "broker": {"port": port, "username": device, "password": secret},
            "federated": {
                "enabled": True,
                "training_data": "partition",
                "engine_index": index,
                "records": cfg.records,
            },
        }
    )
    client = FederatedClient(config)
    _ = client.data
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{device}") as mqtt:
        await mqtt.subscribe(Topics().cmd(device, "fl-train"), qos=1)
        ready.set()
        async for message in mqtt.messages:
            command = decode(Command, bytes(message.payload))  # type: ignore[arg-type]
            await client.handle(command.args)


async def _round(
    http: Any, devices: list[str], cfg: FlBenchConfig, seed: int, quant: str
) -> dict[str, Any]:
    """Start one round over every device and wait for it to publish (or fail)."""
    r = await http.post(
        path(ROUNDS),
        json={
            "devices": devices,
            "min_clients": cfg.clients,
            "deadline_s": 300,
            "quantization": quant,
            "local_epochs": cfg.local_epochs,
            "learning_rate": cfg.learning_rate,
            "deploy": "none",
            "seed": seed,
        },
    )
    r.raise_for_status()
    round_id = r.json()["id"]
    t0 = time.perf_counter()
    for _ in range(ROUND_POLLS):
        body = (await http.get(path(ROUND, round_id=round_id))).json()
        if body["state"] in ("published", "failed"):
            break
        await asyncio.sleep(0.05)
    updates = (await http.get(path(ROUND_UPDATES, round_id=round_id))).json()
    return {
        "round": round_id,
        "quantization": quant,
        "state": body["state"],
        "clients": body["updates"]["accepted"],
        "aggregation_ms": body["aggregation_ms"],
        "round_s": time.perf_counter() - t0,
        "bytes_per_update": float(np.mean([u["size_bytes"] for u in updates])),
        "accuracy": 100.0 * body["metrics"].get("validation_accuracy", 0.0),
        "gate": body["metrics"].get("gate"),  # "passed", "refused" (round failed) or None
    }


async def _rounds(http: Any, url: str, mqtt_port: int, cfg: FlBenchConfig) -> list[dict[str, Any]]:
    """Register and connect every client, then `live_rounds` rounds per update encoding."""
    tasks: list[asyncio.Task[None]] = []
    try:
        devices = []
        for i in range(cfg.clients):
            device = f"engine-{i:03d}"
            r = await http.post(
                path(DEVICES), json={"id": device, "capabilities": ["engine-fault"]}
            )
            r.raise_for_status()
            ready = asyncio.Event()
            secret = r.json()["device_secret"]
            loop = _client_loop(device, secret, url, mqtt_port, i, cfg, ready)
            tasks.append(asyncio.create_task(loop))
            await asyncio.wait_for(ready.wait(), 30)
            devices.append(device)
        return [
            await _round(http, devices, cfg, r_i, quant)
            for r_i in range(cfg.live_rounds)
            for quant in ("none", "int8")
        ]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def live(cfg: FlBenchConfig, workdir: Path) -> dict[str, Any]:
    """{"rows": one row per round, "broker": which broker ran}."""
    import httpx

    from cloud_hub.core.config import Settings
    from cloud_hub.main import create_app
    from cloud_hub.serving import served

    kind = broker_kind("auto")
    with broker_process(kind, workdir) as mqtt_port:
        settings = Settings(
            data_dir=workdir / "hub",
            admin_api_key=ADMIN_KEY,
            mqtt_port=mqtt_port,
            mqtt_username=None,
            port=free_port(),
            log_json=False,
            log_level="WARNING",
            fl_tick_s=0.2,
        )
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with (
            served(create_app(settings), port=settings.port) as url,
            httpx.AsyncClient(base_url=url, headers=admin, timeout=60) as http,
        ):
            rows = await _rounds(http, url, mqtt_port, cfg)
    return {"rows": rows, "broker": kind}
