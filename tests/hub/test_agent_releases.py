"""Agent releases on a real hub (SQLite and PostgreSQL): upload a bundle, list, download with
device credentials, the signature under its own domain, refusals; `agent-update` sent to a
device on a real broker, whose late reply lands in the command history."""

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_hub.core.config import Settings
from contract import AgentUpdateResult, Command, CommandReply, Topics, decode, encode, parse_args
from contract.command import AgentUpdateArgs
from contract.manifest import AgentRelease, ModelManifest
from models.training.manifest import SignatureError, verify
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.bundles import bundle_bytes
from tests.hub.conftest import Hub, basic, running_hub

RELEASES = "/api/v1/agent-releases"
GZIP = {"Content-Type": "application/gzip"}
T = Topics()
pytestmark = pytest.mark.filterwarnings(  # paho's wake-up socket pair is closed by the collector
    r"ignore:Exception ignored in. <(socket\.socket|_io\.FileIO):"
    "pytest.PytestUnraisableExceptionWarning"
)


async def upload(hub: Hub, body: bytes, **params: str) -> httpx.Response:
    return await hub.client.post(
        RELEASES, content=body, params=params, headers={**hub.admin, **GZIP}
    )


async def viewer(hub: Hub) -> dict[str, str]:
    r = await hub.client.post(
        "/api/v1/api-keys", headers=hub.admin, json={"name": "v", "role": "viewer"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def test_upload_list_download_and_the_signature(hub: Hub) -> None:
    creds = await hub.enroll("cam-1")
    bundle = bundle_bytes(version="1.4.0", arch="aarch64", python="3.11")
    r = await upload(hub, bundle, note="first")
    assert r.status_code == 201, r.text
    rel = r.json()
    assert (rel["version"], rel["arch"], rel["python"], rel["size"], rel["note"]) == (
        "1.4.0",
        "aarch64",
        "3.11",
        len(bundle),
        "first",
    )
    assert rel["download_url"] == f"{RELEASES}/{rel['sha256']}/bundle"

    key = (await hub.client.get("/api/v1/models/signing-key", headers=hub.admin)).json()
    release = AgentRelease.model_validate(rel)
    verify(release, rel["signature"], key["public_key"])
    as_model = ModelManifest(
        model="edgefleet", version="1.4.0", seq=1, sha256=release.sha256, size=release.size,
        format="onnx",
    )  # fmt: skip
    with pytest.raises(SignatureError):  # another signing domain: never a model's signature
        verify(as_model, rel["signature"], key["public_key"])

    again = await upload(hub, bundle)  # the same bytes: the stored release, as it was
    assert (again.status_code, again.json()) == (200, rel)
    other = await upload(hub, bundle_bytes(version="1.4.0", arch="aarch64", python="3.11"))
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "release_exists"
    assert rel["sha256"] in other.json()["error"]["message"]
    x86 = await upload(hub, bundle_bytes(version="1.4.0", arch="x86_64", python="3.11"))
    assert x86.status_code == 201, x86.text

    listed = await hub.client.get(RELEASES, headers=await viewer(hub))
    assert listed.status_code == 200, listed.text
    assert [r["arch"] for r in listed.json()] == ["x86_64", "aarch64"]  # newest first

    device = basic("cam-1", creds["device_secret"])
    got = await hub.client.get(rel["download_url"], headers=device)
    assert got.status_code == 200, got.text
    assert got.content == bundle
    assert got.headers["x-edgefleet-signature"] == rel["signature"]
    assert got.headers["content-type"] == "application/gzip"
    assert "edgefleet-1.4.0-aarch64-py311.tar.gz" in got.headers["content-disposition"]
    assert (await hub.client.get(rel["download_url"], headers=hub.admin)).content == bundle
    wrong = await hub.client.get(rel["download_url"], headers=basic("cam-1", "wrong"))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_credentials")
    assert (await hub.client.get(rel["download_url"])).status_code == 401
    assert (await hub.client.get(rel["download_url"], headers=await viewer(hub))).status_code == 403
    missing = await hub.client.get(f"{RELEASES}/{'0' * 64}/bundle", headers=device)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "release_not_found")


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"", "not_a_bundle", "the body must be an agent bundle"),
        (b"PK\x03\x04 a zip, say", "not_a_bundle", "the body: not a bundle (.tar.gz)"),
        (bundle_bytes(manifest={"name": "x"}), "not_a_bundle", "lacks version/arch/python"),
        (bundle_bytes(arch="sparc"), "bad_release", "has arch 'sparc'"),
        (bundle_bytes(python="2.7"), "bad_release", "has python '2.7'"),
        (
            bundle_bytes(manifest={"version": "../../etc", "arch": "x86_64", "python": "3.11"}),
            "bad_release",
            "has version '../../etc'",
        ),
    ],
)
async def test_what_is_not_a_release_is_refused_with_the_reason(
    hub: Hub, body: bytes, code: str, message: str
) -> None:
    r = await upload(hub, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert message in r.json()["error"]["message"]
    assert (await hub.client.get(RELEASES, headers=hub.admin)).json() == []


async def test_who_and_what_may_upload(hub: Hub) -> None:
    bundle = bundle_bytes()
    r = await hub.client.post(RELEASES, content=bundle, headers=await viewer(hub))
    assert r.status_code == 403, r.text
    r = await hub.client.post(
        RELEASES, content=bundle, headers={**hub.admin, "Content-Type": "text/plain"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (415, "unsupported_media_type")
    r = await hub.client.post(  # no content type, as `curl --data-binary @b -H ...` may send
        RELEASES, content=bundle, headers=hub.admin
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_size_limit_is_the_releases_own(make_settings: Callable[..., Settings]) -> None:
    """Bundles may be far above `max_body_bytes`; `release_upload_max_bytes` bounds them."""
    settings = make_settings(max_body_bytes=4096, release_upload_max_bytes=64 * 1024)
    async for hub in running_hub(settings):
        small = await upload(hub, bundle_bytes(payload=20_000))
        assert small.status_code == 201, small.text
        big = await upload(hub, bundle_bytes(payload=80_000))
        assert (big.status_code, big.json()["error"]["code"]) == (413, "payload_too_large")
        elsewhere = await hub.client.post(
            "/api/v1/models/m/versions", content=b"x" * 5000, headers=hub.admin
        )
        assert elsewhere.status_code == 413  # the hub-wide limit still holds on other routes


async def test_agent_update_refusals(hub: Hub) -> None:
    await hub.enroll("cam-1")
    assert (await upload(hub, bundle_bytes(version="2.0.0", python="3.11"))).status_code == 201
    body = {"version": "2.0.0", "arch": "aarch64", "python": "3.11"}
    url = "/api/v1/devices/{}/agent-update"
    r = await hub.client.post(url.format("nope"), headers=hub.admin, json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "device_not_found")
    r = await hub.client.post(
        url.format("cam-1"), headers=hub.admin, json={**body, "arch": "x86_64"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (404, "release_not_found")
    assert "2.0.0 exists for: aarch64 / Python 3.11" in r.json()["error"]["message"]
    r = await hub.client.post(url.format("cam-1"), headers=hub.admin, json={**body, "version": "9"})
    assert "no release 9 at all" in r.json()["error"]["message"]
    r = await hub.client.post(url.format("cam-1"), headers=hub.admin, json={**body, "arch": "z80"})
    assert r.status_code == 422, r.text
    r = await hub.client.post(url.format("cam-1"), headers=await viewer(hub), json=body)
    assert r.status_code == 403, r.text
    r = await hub.client.post(url.format("cam-1"), headers=hub.admin, json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (503, "mqtt_disabled")


@contextmanager
def device_listening(
    broker: BrokerProcess, device: str
) -> Iterator[tuple[list[Command], paho.Client]]:
    """A device subscribed to `cmd/agent-update` that does not answer by itself: the test
    replies when it likes, as an agent does after its restart."""
    got: list[Command] = []
    arrived, subscribed = threading.Event(), threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device)

    def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        got.append(decode(Command, bytes(msg.payload)))
        arrived.set()

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(T.cmd(device, "agent-update"), qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        yield got, client
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_agent_update_reaches_the_device_and_its_late_reply_is_recorded(
    bridged: Hub, broker: BrokerProcess
) -> None:
    hub = bridged
    creds = await hub.enroll("cam-1")
    rel = (await upload(hub, bundle_bytes(version="2.0.0", python="3.11"))).json()
    with device_listening(broker, "cam-1") as (got, device):
        r = await hub.client.post(
            "/api/v1/devices/cam-1/agent-update",
            headers=hub.admin,
            json={"version": "2.0.0", "arch": "aarch64", "python": "3.11"},
        )
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert (accepted["device_id"], accepted["release"]) == ("cam-1", rel)
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        (command,) = got  # QoS 1 on a clean session: once
        assert command.cmd_id == accepted["cmd_id"]
        args = parse_args("agent-update", command)
        assert isinstance(args, AgentUpdateArgs)
        key = (await hub.client.get("/api/v1/models/signing-key", headers=hub.admin)).json()
        verify(args.release, args.signature, key["public_key"])
        assert args.release == AgentRelease.model_validate(rel)
        bundle = await hub.client.get(args.url, headers=basic("cam-1", creds["device_secret"]))
        assert bundle.status_code == 200
        assert len(bundle.content) == args.release.size

        sent = await recorded(hub, lambda row: row["cmd_id"] == command.cmd_id)
        assert (sent["name"], sent["ok"]) == ("agent-update", None)  # no reply yet
        done = AgentUpdateResult(version="2.0.0", previous="1.4.0")
        reply = CommandReply.success(command.cmd_id, done)
        device.publish(T.cmd_reply("cam-1", "agent-update"), encode(reply), qos=1)
        row = await recorded(hub, lambda row: row["ok"] is not None)
    assert (row["cmd_id"], row["ok"], row["result"]) == (command.cmd_id, True, done.model_dump())


async def recorded(hub: Hub, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """cam-1's newest command once `wanted` holds for it (the SQL writer records in batches)."""
    for _ in range(100):
        r = await hub.client.get("/api/v1/devices/cam-1/commands", headers=hub.admin)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        if items and wanted(items[0]):
            return items[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no such command recorded: {items}")
