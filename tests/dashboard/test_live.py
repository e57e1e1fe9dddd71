"""The dashboard against a live fleet: Mosquitto, `edgefleet hub` and the demo's three agents
as real processes, enrolled through the API. Sign-in, the fleet table, a device going offline
live, charts from real health history, the empty Models and Federated pages, and screenshots
of the login, fleet and device pages for the docs."""

import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import httpx
import pytest
from playwright.sync_api import expect
from skimage import data as skdata

from contract import Topics
from edgefleet.demo import DEVICES
from edgefleet.procs import spawn_agent, stop_process, write_agent_config
from tests.dashboard.conftest import SCREENSHOTS, Browser, HubProcess, sign_in
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.mqtt import MqttProbe

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.mosquitto,
    pytest.mark.filterwarnings(  # paho's wake-up socket pair is closed by the collector
        r"ignore:Exception ignored in. <(socket\.socket|_io\.FileIO):"
        "pytest.PytestUnraisableExceptionWarning"
    ),
]
OFFLINE_WITHIN_S = 10.0
UP = re.compile("^(online|degraded)$")  # degraded: connected, but CPU over its band on a busy CI


def row(page: object, device: str) -> str:
    return f'#device-table tr[data-device="{device}"]'


@pytest.fixture
def fleet(
    start_hub: Callable[..., HubProcess], mosquitto_broker: BrokerProcess, tmp_path: Path
) -> Iterator[tuple[HubProcess, dict[str, subprocess.Popen[bytes]]]]:
    hub = start_hub(mqtt_port=mosquitto_broker.port, EDGEFLEET_HEARTBEAT_INTERVAL_S="1")
    agents: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for d in DEVICES:
            room, kind = d.device_id.split("-")
            hub.enroll(
                d.device_id,
                token={"site": "home", "tags": [room]},
                name=d.role.capitalize(),
                tags=[kind],
                hardware="rpi5",
                agent_version="0.1.0",
                metadata={"room": room},
            )
            config = write_agent_config(
                tmp_path / "agents" / f"{d.device_id}.yaml",
                d.device_id,
                d.models,
                port=mosquitto_broker.port,
                sensors=d.sensors,
                health_interval_s=1.0,
            )
            agents[d.device_id] = spawn_agent(config, log=tmp_path / f"{d.device_id}.log")
        yield hub, agents
    finally:
        for proc in agents.values():
            stop_process(proc)


def _face_request(broker: BrokerProcess, device: str, model: str) -> None:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    assert ok
    probe = MqttProbe(broker.host, broker.port).connect()
    try:
        probe.publish(Topics().infer(device, model, "ui-1"), jpeg.tobytes(), qos=1)
    finally:
        probe.close()


def test_live_fleet_dashboard(
    fleet: tuple[HubProcess, dict[str, subprocess.Popen[bytes]]],
    mosquitto_broker: BrokerProcess,
    browser: Browser,
) -> None:
    hub, agents = fleet
    ids = [d.device_id for d in DEVICES]
    page = browser.page()

    # a wrong key is refused, and no session cookie is set
    page.goto(hub.url + "/")
    expect(page.get_by_role("heading", name="Sign in to your fleet")).to_be_visible()
    page.screenshot(animations="disabled", path=SCREENSHOTS / "login.png")
    page.get_by_label("API key").fill("efk_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_have_text("That key was refused by the hub.")
    assert page.context.cookies() == []
    with httpx.Client(base_url=hub.url) as anonymous:  # and the API refuses anonymous callers
        assert anonymous.get("/api/v1/devices").status_code == 401

    sign_in(page, hub)
    for device in ids:  # the demo devices come online (agents load models, then connect)
        expect(page.locator(row(page, device))).to_have_attribute("data-state", UP, timeout=30_000)
    _face_request(mosquitto_broker, "door-cam", DEVICES[0].models[0])

    # the device page draws its charts from the real health history
    page.get_by_role("link", name="door-cam").click()
    expect(page.get_by_role("heading", name="door-cam")).to_be_visible()
    for chart in ("CPU", "Memory", "Round-trip time", "Inference latency (p50)", "Offload ratio"):
        expect(page.locator(f'figure[data-chart="{chart}"]')).to_be_visible()
    page.wait_for_function(  # history from the database, then live heartbeats on top
        "() => document.querySelector('figure[data-chart=CPU]').dataset.points >= 6",
        timeout=15_000,
    )
    expect(page.locator('figure[data-chart="Memory"] path.chart-line')).to_be_visible()
    expect(page.locator(".tab-panel table tbody tr").first).to_be_visible(timeout=10_000)
    page.screenshot(animations="disabled", path=SCREENSHOTS / "device.png", full_page=True)

    # a fleet without a registered model or a round: the pages say so (test_registry.py fills
    # them with real data and takes their screenshots)
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.get_by_text("No models registered yet")).to_be_visible()
    page.get_by_role("link", name="Federated").click()
    expect(page.get_by_text("No federated rounds yet")).to_be_visible()

    # SIGKILL an agent: its row turns offline live, without a reload
    page.get_by_role("link", name="Fleet", exact=True).click()
    expect(page.locator(row(page, "kitchen-mic"))).to_have_attribute("data-state", UP)
    expect(page.locator("#live-status")).to_have_attribute("data-live", "up")
    page.evaluate("window.__sameDocument = true")
    killed = time.monotonic()
    agents["kitchen-mic"].send_signal(signal.SIGKILL)
    expect(page.locator(row(page, "kitchen-mic"))).to_have_attribute(
        "data-state", "offline", timeout=OFFLINE_WITHIN_S * 1000
    )
    print(f"\nkitchen-mic shown offline {time.monotonic() - killed:.2f} s after SIGKILL")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator('[data-stat="offline"] .stat-value')).to_have_text("1")
    page.screenshot(animations="disabled", path=SCREENSHOTS / "fleet.png")

    # tablet width: the layout reflows without a horizontal scroll bar
    page.set_viewport_size({"width": 820, "height": 1180})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(animations="disabled", path=SCREENSHOTS / "fleet-tablet.png")

    # sign out ends the session server-side
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to your fleet")).to_be_visible()

    assert browser.foreign_requests(hub.port) == []
