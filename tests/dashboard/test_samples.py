"""The Samples page in Chromium against `edgefleet hub`: hard samples a device's cascade sent
(through the real infer route, real face model) are listed with the input image and both
answers; an operator accepts the hub's answer for one and keeps the device's for another."""

import base64
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import expect

from contract import EdgeAnswer
from contract.http import EDGE_ANSWER
from contract.inference import edge_answer_header
from models.datasets.faces import generate
from tests.dashboard.conftest import SCREENSHOTS, Browser, HubProcess, sign_in
from tests.fixtures.requires import require_models

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEVICE = "porch-cam"


def _send(hub: HubProcess, secret: str, jpeg: bytes, faces: list[list[float]]) -> None:
    answer = EdgeAnswer(
        model="face-detect-lite",
        model_version="short-range-0.6.0",
        output={"faces": [{"box": b, "score": 0.62} for b in faces], "image_size": [640, 480]},
        confidence=0.62,
    )
    auth = base64.b64encode(f"{DEVICE}:{secret}".encode()).decode()
    r = httpx.post(
        f"{hub.url}/api/v1/infer/face-detect-full",
        content=jpeg,
        headers={
            "content-type": "image/jpeg",
            "authorization": f"Basic {auth}",
            EDGE_ANSWER: edge_answer_header(answer),
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text


def test_operator_reviews_hard_samples(
    start_hub: Callable[..., HubProcess], browser: Browser
) -> None:
    require_models("face-detect-full")
    hub = start_hub(EDGEFLEET_CLOUD_MODELS='["face-detect-full"]')
    secret = hub.enroll(DEVICE)["device_secret"]
    images = generate(2, seed=41, sources=["astronaut"], negative_fraction=0.0)
    _send(hub, secret, images[0].jpeg, [])  # the device saw nothing
    _send(hub, secret, images[1].jpeg, [list(images[1].faces[0].box)])
    page = browser.page()
    sign_in(page, hub)
    page.get_by_role("link", name="Samples").click()
    table = page.locator("#samples")
    expect(table.locator("tbody tr")).to_have_count(2)
    first = table.locator("tbody tr").nth(1)  # oldest: the device said "no face"
    expect(first.locator("[data-col=edge]")).to_have_text("no face")
    expect(first.locator("[data-col=cloud]")).to_contain_text("face")
    image = first.locator("img.sample-thumb")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 640
    page.screenshot(path=str(SCREENSHOTS / "samples.png"), full_page=True)
    first.get_by_role("button", name="Hub is right").click()
    expect(table.locator("tbody tr").nth(1)).to_have_attribute("data-review", "accepted")
    table.locator("tbody tr").nth(0).get_by_role("button", name="Device is right").click()
    expect(table.locator("tbody tr").nth(0)).to_have_attribute("data-review", "corrected")
    page.get_by_role("tab", name="Not reviewed").click()
    expect(page.get_by_text("No hard samples yet")).to_be_visible()
    with hub.client() as c:
        items = c.get("/api/v1/samples").json()["items"]
    assert [s["review"] for s in items] == ["corrected", "accepted"]
    assert items[1]["label"] == items[1]["cloud_output"]
    assert items[0]["label"] == items[0]["edge_output"]
    assert browser.foreign_requests(hub.port) == []
