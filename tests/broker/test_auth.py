"""Credential sources (file and hub) and the amqtt auth/ACL plugins in a real broker."""

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from broker.acl import Account, AccountKind
from broker.credentials import (
    AUTH_PATH,
    CredentialsError,
    CredentialsFile,
    FileEntry,
    HubCredentials,
    StaticCredentials,
    hash_secret,
    load_credentials_file,
    new_secret,
)
from broker.server import running_broker
from broker.settings import BrokerConfigError, BrokerSettings, load_settings

V311 = aiomqtt.ProtocolVersion.V311
SECRET = new_secret()


def _entry(name: str, kind: str = "device", **kw: Any) -> FileEntry:
    return FileEntry(name=name, kind=kind, secret_sha256=hash_secret(SECRET), **kw)  # type: ignore[arg-type]


@pytest.fixture
def creds_file(tmp_path: Path) -> Path:
    path = tmp_path / "credentials.json"
    CredentialsFile(
        accounts=[_entry("cam-1"), _entry("hub", "hub"), _entry("acme", "integrator")]
    ).write(path)
    return path


async def test_static_file_accepts_right_secret_and_client_id(creds_file: Path) -> None:
    source = StaticCredentials(creds_file)
    assert await source.authenticate("cam-1", SECRET, "cam-1") == Account(
        AccountKind.DEVICE, "cam-1"
    )
    assert (await source.authenticate("hub", SECRET, "anything")).kind is AccountKind.HUB  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("username", "password", "client_id"),
    [("cam-1", "wrong", "cam-1"), ("cam-1", SECRET, "cam-2"), ("cam-1", SECRET, ""),
     ("nobody", SECRET, "nobody"), (None, None, "cam-1"), ("cam-1", None, "cam-1")],
)  # fmt: skip
async def test_static_file_refuses(
    creds_file: Path, username: str | None, password: str | None, client_id: str
) -> None:
    assert await StaticCredentials(creds_file).authenticate(username, password, client_id) is None


async def test_static_file_is_reread_so_revocation_applies_at_once(creds_file: Path) -> None:
    source = StaticCredentials(creds_file)
    assert await source.authenticate("cam-1", SECRET, "cam-1") is not None
    CredentialsFile(accounts=[_entry("cam-1", disabled=True)]).write(creds_file)
    assert await source.authenticate("cam-1", SECRET, "cam-1") is None


def _one(**fields: object) -> dict[str, object]:
    return {"accounts": [{"name": "x", "kind": "hub", "secret_sha256": "0" * 64, **fields}]}


@pytest.mark.parametrize(
    ("data", "message"),
    [(_one(name="Bad Id", kind="device"), "device name"),
     (_one(secret_sha256="short"), "secret_sha256"),
     (_one(publish=[]), "only integrators"),
     (_one(kind="integrator", read=["a/#/b"]), "filter"),
     ({"accounts": _one()["accounts"] * 2}, "duplicate"),  # type: ignore[operator]
     ({"acounts": []}, "acounts")],
)  # fmt: skip
def test_bad_credentials_file_is_named(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(data))
    with pytest.raises(CredentialsError, match=message):
        load_credentials_file(path)


class FakeHub:
    """A tiny HTTP server answering /api/v1/broker/auth from a dict, counting requests."""

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls = 0
        self.keys: list[str | None] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hub.calls += 1
                hub.keys.append(self.headers.get("Authorization"))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                account = hub.accounts.get((body["username"], body["password"]))
                status = 200 if self.path == AUTH_PATH else 404
                answer = {"allow": account is not None, "account": account}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    hub.thread.start()
    yield hub
    hub.close()


async def test_hub_source_asks_with_service_key_and_caches(fake_hub: FakeHub) -> None:
    fake_hub.accounts[("cam-1", "pw")] = {"kind": "device", "name": "cam-1"}
    source = HubCredentials(fake_hub.url, "svc-key", ttl_s=60)
    try:
        for _ in range(3):
            assert await source.authenticate("cam-1", "pw", "cam-1") == Account(
                AccountKind.DEVICE, "cam-1"
            )
        assert fake_hub.calls == 1
        assert fake_hub.keys == ["Bearer svc-key"]
        assert await source.authenticate("cam-1", "pw", "cam-2") is None  # spoofed client id
        assert await source.authenticate("cam-1", "bad", "cam-1") is None
    finally:
        await source.close()


async def test_hub_source_honours_revocation_after_ttl(fake_hub: FakeHub) -> None:
    fake_hub.accounts[("cam-1", "pw")] = {"kind": "device", "name": "cam-1"}
    source = HubCredentials(fake_hub.url, "k", ttl_s=0)  # ttl 0: every CONNECT asks the hub
    try:
        assert await source.authenticate("cam-1", "pw", "cam-1") is not None
        del fake_hub.accounts[("cam-1", "pw")]
        assert await source.authenticate("cam-1", "pw", "cam-1") is None
        assert fake_hub.calls == 2
    finally:
        await source.close()


async def test_hub_down_means_refused() -> None:
    source = HubCredentials("http://127.0.0.1:9", "k", timeout_s=1)  # discard port: refused
    try:
        assert await source.authenticate("cam-1", "pw", "cam-1") is None
    finally:
        await source.close()


# --- the plugins in a real in-process broker ---------------------------------------------


def _settings(tmp_path: Path, **kw: Any) -> BrokerSettings:
    return BrokerSettings(port=0, data_dir=tmp_path / "data", **kw)


def _client(
    running: Any, username: str | None, client_id: str, password: str | None = SECRET
) -> aiomqtt.Client:
    return aiomqtt.Client(
        running.host, running.port, identifier=client_id, username=username,
        password=password if username else None, protocol=V311,
    )  # fmt: skip


async def test_broker_with_credentials_enforces_auth_and_acl(
    tmp_path: Path, creds_file: Path
) -> None:
    async with running_broker(_settings(tmp_path, credentials_file=creds_file)) as running:
        names = {type(p).__name__ for p in running.broker.plugins_manager.plugins}
        assert names == {"CredentialsAuthPlugin", "TopicAclPlugin", "SessionDBPlugin"}
        for username, client_id, password in [
            (None, "x", None),
            ("cam-1", "cam-1", "bad"),
            ("cam-1", "cam-2", SECRET),
        ]:
            with pytest.raises(aiomqtt.MqttError):
                async with _client(running, username, client_id, password):
                    pass
        async with (
            _client(running, "hub", "hub-1") as hub,
            _client(running, "cam-1", "cam-1") as cam,
        ):
            await hub.subscribe("edgefleet/v1/#", qos=1)
            await cam.publish("edgefleet/v1/cam-2/status", b"spoof", qos=1)  # denied, dropped
            await cam.publish("edgefleet/v1/cam-1/status", b"mine", qos=1)
            message = await anext(aiter(hub.messages))
            assert (str(message.topic), message.payload) == ("edgefleet/v1/cam-1/status", b"mine")
        assert running.denied == {"connect_anonymous": 1, "connect_credentials": 2, "publish": 1}


async def test_refused_client_id_spoof_leaves_the_device_connected(
    tmp_path: Path, creds_file: Path
) -> None:
    async with (
        running_broker(_settings(tmp_path, credentials_file=creds_file)) as running,
        _client(running, "cam-1", "cam-1") as cam,
        _client(running, "hub", "hub-1") as hub,
    ):
        await cam.subscribe("edgefleet/v1/cam-1/cmd/+", qos=1)
        with pytest.raises(aiomqtt.MqttError):
            async with _client(running, "acme", "cam-1", "wrong"):
                pass
        await hub.publish("edgefleet/v1/cam-1/cmd/reload", b"{}", qos=1)
        async with asyncio.timeout(5):  # stock amqtt would have kicked cam-1: no delivery
            message = await anext(aiter(cam.messages))
        assert str(message.topic) == "edgefleet/v1/cam-1/cmd/reload"


async def test_demo_mode_anonymous_gets_public_topics_only(
    tmp_path: Path, creds_file: Path
) -> None:
    settings = _settings(tmp_path, credentials_file=creds_file, demo=True)
    async with (
        running_broker(settings) as running,
        _client(running, None, "watcher") as anonymous,
        _client(running, "cam-1", "cam-1") as cam,
    ):
        await anonymous.subscribe("edgefleet/v1/#", qos=1)
        await cam.publish("edgefleet/v1/cam-1/health", b"private", qos=1)
        await cam.publish("edgefleet/v1/cam-1/status", b"public", qos=1)
        message = await anext(aiter(anonymous.messages))
        assert (str(message.topic), message.payload) == ("edgefleet/v1/cam-1/status", b"public")
        assert running.denied == {"receive": 1}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"allow_anonymous": True, "demo": True}, "cannot be combined"),
     ({"hub_url": "http://127.0.0.1:8000"}, "hub_service_key"),
     ({"credentials_file": "/nonexistent.yaml"}, "is not a file"),
     ({"auth_cache_ttl_s": -1}, "between 0 and 300")],
)  # fmt: skip
def test_auth_settings_validated(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(BrokerConfigError, match=message):
        load_settings(**overrides)
