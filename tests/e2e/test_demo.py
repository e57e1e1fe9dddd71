"""`edgefleet demo` end to end: real broker, hub, three agent processes, simulated sensors.

Starts the demo on free ports, subscribes like `mosquitto_sub -t 'edgefleet/v1/#'`, expects
results from all three devices within 10 s of the ready line and the hub (asked with the admin
key the demo printed) to report the three enrolled devices `online`, then SIGTERMs the demo and
checks it exits 0 with every agent offline and no child process left behind.
"""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil
import pytest

from tests.fixtures.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

READY = "edgefleet demo ready"
DEVICES = {"door-cam", "hall-cam", "kitchen-mic"}


class Demo:
    def __init__(self, port: int, workdir: Path, hub_port: int) -> None:
        self.port = port
        self.hub_port = hub_port
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from edgefleet.cli import main; main()",
                "demo",
                "--port",
                str(port),
                "--workdir",
                str(workdir),
                "--interval",
                "0.6",
                "--hub-port",
                str(hub_port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.2):
                    return
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
        pytest.fail(f"no {text!r} from the demo; output:\n" + "\n".join(self.output[-40:]))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(free_port(), tmp_path, free_port())
    yield running
    if running.proc.poll() is None:  # test failed half-way: do not leave it running
        for child in psutil.Process(running.proc.pid).children(recursive=True):
            child.kill()
        running.proc.kill()
        running.proc.wait(10)
    running.reader.join(10)
    assert running.proc.stdout is not None
    running.proc.stdout.close()


class Subscriber:
    """`mosquitto_sub -t 'edgefleet/v1/#'` in paho."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{os.getpid()}")
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("edgefleet/v1/#", qos=1)
        self.client.loop_start()
        assert self.subscribed.wait(10), "SUBACK not received"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_demo_serves_three_devices_and_stops_cleanly(demo: Demo) -> None:
    demo.wait_for(READY, timeout=90)
    ready_at = time.monotonic()
    sub = Subscriber(demo.port)
    try:
        results: dict[str, dict[str, object]] = {}
        statuses: dict[str, str] = {}
        while set(results) != DEVICES and time.monotonic() - ready_at < 10:
            try:
                topic, payload = sub.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            parts = topic.split("/")
            device, kind = parts[2], parts[3]
            if kind == "result":
                results.setdefault(device, json.loads(payload))
            elif kind == "status":
                statuses[device] = json.loads(payload)["state"]
        assert set(results) == DEVICES, f"results only from {sorted(results)} within 10 s"
        assert results["kitchen-mic"]["model"] == "wakeword-lite"
        assert "detected" in results["kitchen-mic"]["output"]  # type: ignore[operator]
        for cam in ("door-cam", "hall-cam"):
            assert results[cam]["model"] == "face-detect-lite"
            assert results[cam]["where"] == "edge"
            assert "faces" in results[cam]["output"]  # type: ignore[operator]
        assert statuses == dict.fromkeys(DEVICES, "online")  # retained births
        _check_hub(demo)

        children = psutil.Process(demo.proc.pid).children(recursive=True)
        assert len(children) >= 3
        demo.proc.send_signal(signal.SIGTERM)
        assert demo.proc.wait(30) == 0, "\n".join(demo.output[-30:])

        # each agent published its offline status before the broker went away
        offline: set[str] = set()
        deadline = time.monotonic() + 2
        while offline != DEVICES and time.monotonic() < deadline:
            try:
                topic, payload = sub.messages.get(timeout=0.1)
            except queue.Empty:
                continue
            if topic.endswith("/status") and json.loads(payload)["state"] == "offline":
                offline.add(topic.split("/")[2])
        assert offline == DEVICES
    finally:
        sub.close()

    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"orphans left behind: {alive}"
    assert len(gone) == len(children)


def _check_hub(demo: Demo) -> None:
    """The banner's dashboard URL and admin key work: the hub lists the three devices online."""
    text = "\n".join(demo.output)
    url = f"http://127.0.0.1:{demo.hub_port}"
    assert f"dashboard  {url}/" in text
    found = re.search(r"admin key\s+(efk_[A-Za-z0-9_-]+)", text)
    assert found, text
    headers = {"Authorization": f"Bearer {found.group(1)}"}
    assert httpx.get(f"{url}/api/v1/devices", timeout=5).status_code == 401  # no key, no data
    states: dict[str, str] = {}
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
        while time.monotonic() < deadline:
            r = client.get("/api/v1/devices")
            assert r.status_code == 200, r.text
            states = {d["id"]: d["health"]["state"] for d in r.json()["items"]}
            if states == dict.fromkeys(DEVICES, "online"):
                return
            time.sleep(0.2)  # the hub has no push API for tests; poll its registry
    pytest.fail(f"hub reports {states}, expected the three demo devices online")
