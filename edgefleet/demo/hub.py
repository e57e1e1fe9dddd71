"""The demo's hub: `edgefleet hub` as a process, then the fleet enrolled through its API."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from pathlib import Path
from typing import Any

from contract.http import API_PREFIX, DEVICE, ENROLLMENT_TOKENS, path
from edgefleet.demo.fleet import (
    DEVICES,
    DemoError,
    DemoOptions,
    DemoSecrets,
    Hub,
    Running,
    url_host,
)
from edgefleet.procs.hub import hub_command
from edgefleet.procs.process import spawn, tail
from edgefleet.procs.wait import ExitedEarly, NotReady, http_ok, wait_until

HUB_START_TIMEOUT_S = 60.0


def _hub_env(
    opts: DemoOptions, broker_port: int, data_dir: Path, keys: DemoSecrets
) -> dict[str, str]:
    url = f"http://{url_host(opts.host)}:{opts.hub_port}"
    env = {
        "EDGEFLEET_ENVIRONMENT": "development",
        "EDGEFLEET_DATA_DIR": str(data_dir),
        "EDGEFLEET_DATABASE_URL": f"sqlite:///{data_dir / 'hub.db'}",
        "EDGEFLEET_PUBLIC_URL": url,
        "EDGEFLEET_MQTT_HOST": opts.host,
        "EDGEFLEET_MQTT_PORT": str(broker_port),
        "EDGEFLEET_MQTT_CLIENT_ID": f"edgefleet-demo-hub-{os.getpid()}",
        "EDGEFLEET_HEARTBEAT_INTERVAL_S": str(opts.health_interval_s),
        "EDGEFLEET_LOG_JSON": "false",
        "EDGEFLEET_BROKER_SERVICE_KEY": keys.service_key,
        "EDGEFLEET_MQTT_USERNAME": "hub",
        "EDGEFLEET_MQTT_PASSWORD": keys.hub_mqtt_password,
        "EDGEFLEET_BROKER_ACCOUNTS": json.dumps([_sensors_account(keys)]),
    }
    return {k: v for k, v in env.items() if v} | {"PYTHONUNBUFFERED": "1"}


def _ready(url: str, key_file: Path) -> bool:
    return http_ok(f"{url}/healthz") and key_file.exists()


async def start_hub(
    opts: DemoOptions, broker_port: int, running: Running, keys: DemoSecrets
) -> Hub:
    """`edgefleet hub` as a process: SQLite in `<workdir>/hub` (a fresh database per run, the
    admin key kept across runs), bridge on the demo broker; returns once `/healthz` answers."""
    data_dir = (opts.workdir / "hub").absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("hub.db*"):  # devices of an earlier run would clash (409)
        old.unlink()
    url = f"http://{url_host(opts.host)}:{opts.hub_port}"
    log = opts.workdir / "logs" / "hub.log"
    log.unlink(missing_ok=True)
    env = _hub_env(opts, broker_port, data_dir, keys)
    proc = spawn(hub_command(opts.host, opts.hub_port), log=log, env=env)
    running.services["hub"] = proc
    running.logs["hub"] = log
    key_file = data_dir / "admin.key"
    ready = functools.partial(_ready, url, key_file)
    limit = HUB_START_TIMEOUT_S
    # wait in a worker thread, spawn in the loop's: the child's PDEATHSIG follows the spawner
    try:
        await asyncio.to_thread(wait_until, ready, proc, timeout=limit, what="the hub")
    except ExitedEarly as exc:
        raise DemoError(f"the hub exited with {exc.returncode}; its log:\n{tail(log)}") from None
    except NotReady:
        late = f"the hub did not answer on {url} within {limit:.0f} s"
        raise DemoError(f"{late}:\n{tail(log)}") from None
    hub = Hub(proc, url, key_file.read_text().strip(), log)
    running.hub = hub
    running.lines.append(("hub", f"{url}{API_PREFIX}  (pid {proc.pid}, SQLite in {data_dir})"))
    running.lines.append(("dashboard", f"{url}/"))
    running.lines.append(("admin key", f"{hub.admin_key}  (sign in to the dashboard with it)"))
    return hub


async def provision_agents(hub: Hub, configs: dict[str, Path]) -> None:
    """One enrollment token for the fleet (admin key), then each agent enrolls with it."""
    import httpx

    from edge_agent.provision import (
        enroll,
        merge_enrollment,
        read_yaml,
        render_config,
        write_secret_file,
    )

    async with httpx.AsyncClient(timeout=10.0) as client:
        r = await client.post(
            hub.url + path(ENROLLMENT_TOKENS),
            json={"name": "edgefleet demo", "max_uses": len(configs), "tags": ["demo"]},
            headers={"Authorization": f"Bearer {hub.admin_key}"},
        )
    if r.status_code != 201:
        raise DemoError(f"creating an enrollment token failed: {r.status_code} {r.text}")
    token = str(r.json()["token"])

    def one(device_id: str, path: Path) -> None:
        data = read_yaml(path)
        result = enroll(hub.url, token, device_id=device_id, models=data.get("models", []))
        write_secret_file(path, render_config(merge_enrollment(data, result)))

    await asyncio.gather(*(asyncio.to_thread(one, d, p) for d, p in configs.items()))


def _sensors_account(keys: DemoSecrets) -> dict[str, Any]:
    """The simulated camera and microphone: an integrator that may publish camera frames to
    the third-party sensor topics and inference requests, and read the public topics."""
    from broker.acl import default_integrator_rights
    from broker.credentials import hash_secret

    publish, _ = default_integrator_rights()
    return {
        "name": keys.SENSORS_USER,
        "kind": "integrator",
        "secret_sha256": hash_secret(keys.sensors_password),
        "publish": [*publish, "sensors/#"],
    }


async def grant_sensor_topics(hub: Hub) -> None:
    """An admin sets which third-party topics each device's broker account may read."""
    import httpx

    async with httpx.AsyncClient(timeout=10.0) as client:
        for device in DEVICES:
            if not device.sensors:
                continue
            r = await client.patch(
                hub.url + path(DEVICE, device_id=device.device_id),
                json={"metadata": {"sensor_topics": [s["topic"] for s in device.sensors]}},
                headers={"Authorization": f"Bearer {hub.admin_key}"},
            )
            if r.status_code != 200:
                raise DemoError(f"granting sensor topics failed: {r.status_code} {r.text}")
