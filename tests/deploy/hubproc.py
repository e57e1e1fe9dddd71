"""`edgefleet hub` as a real process on a free loopback port, for the deploy/enroll e2e tests."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.ports import free_port

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))
ADMIN_KEY = "efk_deploy-e2e-admin-key-0123456789abcdef"


@dataclass
class Hub:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def token(self, name: str = "e2e", **body: Any) -> str:
        with self.client() as c:
            r = c.post("/api/v1/enrollment-tokens", json={"name": name, **body})
            assert r.status_code == 201, r.text
            return str(r.json()["token"])

    def state(self, device_id: str) -> str | None:
        with self.client() as c:
            r = c.get(f"/api/v1/devices/{device_id}")
            if r.status_code == 404:
                return None
            assert r.status_code == 200, r.text
            return str(r.json()["health"]["state"])

    def wait_state(
        self, device_id: str, state: str, timeout: float, agent_log: Path | None = None
    ) -> float:
        """Poll the registry until `device_id` is in `state`; returns the seconds it took."""
        start = time.monotonic()
        seen = None
        while time.monotonic() - start < timeout:
            seen = self.state(device_id)
            if seen == state:
                return time.monotonic() - start
            time.sleep(0.1)  # the hub has no push API for tests; poll the registry
        agent = agent_log.read_text(errors="replace")[-3000:] if agent_log else "-"
        with self.client() as c:
            changes = c.get(f"/api/v1/devices/{device_id}/state-changes").text
        raise AssertionError(
            f"{device_id} is {seen!r}, not {state!r}, after {timeout} s; state changes "
            f"{changes}\nagent log:\n{agent}\nhub log:\n{self.output()}"
        )


@contextmanager
def running_hub(workdir: Path, *, mqtt_port: int, **env: str) -> Iterator[Hub]:
    """Start the hub (SQLite in `workdir`, bridge to the broker on `mqtt_port`), wait for
    `/healthz`, stop it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    values = {
        "EDGEFLEET_DATA_DIR": str(workdir),
        "EDGEFLEET_DATABASE_URL": f"sqlite:///{workdir / 'hub.db'}",
        "EDGEFLEET_ADMIN_API_KEY": ADMIN_KEY,
        "EDGEFLEET_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "EDGEFLEET_LOG_JSON": "false",
        "EDGEFLEET_MQTT_HOST": "127.0.0.1",
        "EDGEFLEET_MQTT_PORT": str(mqtt_port),
        "EDGEFLEET_MQTT_CLIENT_ID": f"hub-e2e-{os.getpid()}-{port}",
        **env,
    }
    log = workdir / "hub.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EDGEFLEET, "hub", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **values, "PYTHONUNBUFFERED": "1"},
        )
    hub = Hub(proc, port, log)
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=1.0) as c:
            while True:
                assert proc.poll() is None, f"hub exited:\n{hub.output()}"
                assert time.monotonic() < deadline, f"hub not healthy:\n{hub.output()}"
                try:
                    if c.get(f"{hub.url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # no other ready signal than the health endpoint
        yield hub
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
