"""Dashboard fixtures: Debian's Chromium driven by Playwright, and `edgefleet hub` as a process.

Chromium is `/usr/bin/chromium` from Debian (never `playwright install`), headless, with every
background service that would phone home switched off; the tests then assert from the browser's
own request log that nothing but the hub was contacted.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import playwright.sync_api as playwright_sync
import pytest

from tests.fixtures.ports import free_port
from tests.fixtures.requires import require_tools

CHROMIUM = "/usr/bin/chromium"
EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))
ADMIN_KEY = "efk_dashboard-test-admin-key-0123456789"
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
]


@dataclass
class HubProcess:
    """`edgefleet hub` on a free loopback port."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.admin, timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def enroll(
        self, device_id: str, *, token: dict[str, Any] | None = None, **body: Any
    ) -> dict[str, Any]:
        """The enrollment path a device takes: a one-time token (`token`: its site, tags...),
        then `POST /enroll` with it."""
        with self.client() as c:
            spec = {"name": f"for {device_id}", **(token or {})}
            created = c.post("/api/v1/enrollment-tokens", json=spec)
            assert created.status_code == 201, created.text
            r = c.post(
                "/api/v1/enroll",
                json={"device_id": device_id, **body},
                headers={"Authorization": f"Bearer {created.json()['token']}"},
            )
            assert r.status_code == 201, r.text
            out: dict[str, Any] = r.json()
            return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _wait_healthy(hub: HubProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as c:
        while time.monotonic() < deadline:
            if hub.proc.poll() is not None:
                break
            try:
                if c.get(f"{hub.url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)  # polling the health endpoint: the hub has no other ready signal
    hub.stop()
    pytest.fail(f"hub did not become healthy on {hub.url}; output:\n{hub.output()}")


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[Callable[..., HubProcess]]:
    """Start `edgefleet hub` with a SQLite file in tmp_path; `mqtt_port=None` runs it without
    the MQTT bridge. `database_url` lets a test seed the database first."""
    started: list[HubProcess] = []

    def start(*, mqtt_port: int | None = None, **env: str) -> HubProcess:
        data = tmp_path / "hub"
        data.mkdir(exist_ok=True)
        values = {
            "EDGEFLEET_DATA_DIR": str(data),
            "EDGEFLEET_DATABASE_URL": f"sqlite:///{data / 'hub.db'}",
            "EDGEFLEET_ADMIN_API_KEY": ADMIN_KEY,
            "EDGEFLEET_LOG_JSON": "false",
            "EDGEFLEET_MQTT_ENABLED": "true" if mqtt_port else "false",
            "EDGEFLEET_MQTT_PORT": str(mqtt_port or 1883),
            "EDGEFLEET_MQTT_CLIENT_ID": f"hub-{os.getpid()}-{len(started)}",
            **env,
        }
        port = free_port()
        log = tmp_path / f"hub-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [EDGEFLEET, "hub", "--host", "127.0.0.1", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **values, "PYTHONUNBUFFERED": "1"},
            )
        hub = HubProcess(proc, port, log)
        started.append(hub)
        _wait_healthy(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@dataclass
class Browser:
    """One browser context with its request log (every URL the pages asked for)."""

    context: Any
    requests: list[str] = field(default_factory=list)

    def page(self) -> Any:
        return self.context.new_page()

    def foreign_requests(self, allowed_port: int) -> list[str]:
        allowed = {f"127.0.0.1:{allowed_port}"}
        return [
            u
            for u in self.requests
            if urlsplit(u).scheme not in ("data", "blob", "about")
            and urlsplit(u).netloc not in allowed
        ]


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Per test: Playwright's sync API runs an event loop of its own, which must be gone before
    a pytest-asyncio test runs."""
    require_tools(CHROMIUM)
    # Playwright gives every launch a fresh temporary profile (it refuses --user-data-dir in
    # `args`); the environment's TMPDIR keeps it out of the user's home.
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Browser]:
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    b = Browser(context)
    context.on("request", lambda request: b.requests.append(request.url))
    context.set_default_timeout(10_000)
    yield b
    context.close()


def sign_in(page: Any, hub: HubProcess, key: str = ADMIN_KEY) -> None:
    page.goto(hub.url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
