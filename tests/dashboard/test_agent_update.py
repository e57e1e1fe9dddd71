"""The device page's "Update the agent" form and "Recent commands" table, in Chromium against
`edgefleet hub` (no broker: the send is refused, and the page says why)."""

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import Browser, HubProcess, sign_in
from tests.fixtures.bundles import bundle_bytes


def test_the_update_form_lists_releases_and_commands_show(
    start_hub: Callable[..., HubProcess], browser: Browser
) -> None:
    hub = start_hub()
    hub.enroll("cam-1", agent_version="1.3.0")
    with hub.client() as c:
        r = c.post(
            "/api/v1/agent-releases",
            content=bundle_bytes(version="1.4.0", arch="aarch64", python="3.11"),
            headers={"Content-Type": "application/gzip"},
        )
        assert r.status_code == 201, r.text

    page: Any = browser.page()
    sign_in(page, hub)
    page.goto(f"{hub.url}/#/devices/cam-1")
    expect(page.locator("#commands")).to_contain_text("No commands sent yet")
    options = page.locator("#update-release option")
    expect(options).to_have_text(["1.4.0 · aarch64 · Python 3.11"])
    expect(page.locator("#act-update").locator("..")).to_contain_text("Runs 1.3.0")
    page.get_by_role("button", name="Update", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Update").click()
    expect(page.locator("#update-status")).to_contain_text("without MQTT")
    assert browser.foreign_requests(hub.port) == []
