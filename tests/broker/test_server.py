"""`running_broker()` in-process: where it binds, which plugins it loads, its settings."""

import socket
from pathlib import Path

import aiomqtt
import psutil
import pytest

from broker.server import BrokerStartError, amqtt_config, running_broker
from broker.settings import BrokerSettings

V311 = aiomqtt.ProtocolVersion.V311


def _settings(**kwargs: object) -> BrokerSettings:
    defaults = {"port": 0, "allow_anonymous": True, "persistence": False}
    return BrokerSettings(**{**defaults, **kwargs})  # type: ignore[arg-type]


def _non_loopback_ipv4() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    return None


async def test_binds_loopback_only_by_default() -> None:
    async with running_broker(_settings()) as running:
        sockets = running.broker._servers["default"].instance.sockets
        assert {s.getsockname()[0] for s in sockets} == {"127.0.0.1"}
        assert running.host == "127.0.0.1"
        assert running.url == f"mqtt://127.0.0.1:{running.port}"
        other = _non_loopback_ipv4()
        if other is not None:  # the same port on the machine's other address is closed
            with pytest.raises(OSError):
                socket.create_connection((other, running.port), timeout=2).close()


async def test_loads_only_the_explicit_plugins() -> None:
    async with running_broker(_settings()) as running:
        names = {type(p).__name__ for p in running.broker.plugins_manager.plugins}
    assert names == {"AnonymousAuthPlugin"}  # no loggers, no $SYS (docs/models.md: -35..40 % rate)


def test_config_adds_plugins_only_when_asked(tmp_path: Path) -> None:
    config = amqtt_config(
        _settings(persistence=True, data_dir=tmp_path, max_payload_bytes=10, port=1883)
    )
    assert config["listeners"] == {"default": {"type": "tcp", "bind": "127.0.0.1:1883"}}
    assert set(config["plugins"]) == {
        "amqtt.plugins.authentication.AnonymousAuthPlugin",
        "amqtt.contrib.persistence.SessionDBPlugin",
        "broker.server.PayloadLimitPlugin",
    }


async def test_publish_and_subscribe_in_process() -> None:
    async with (
        running_broker(_settings()) as running,
        aiomqtt.Client(running.host, running.port, protocol=V311) as client,
    ):
        await client.subscribe("edgefleet/v1/+/health", qos=1)
        await client.publish("edgefleet/v1/dev-1/health", b"{}", qos=1)
        message = await anext(aiter(client.messages))
        assert str(message.topic) == "edgefleet/v1/dev-1/health"


async def test_anonymous_refused_unless_allowed() -> None:
    async with running_broker(_settings(allow_anonymous=False)) as running:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(running.host, running.port, protocol=V311):
                pass


async def test_oversized_payload_dropped() -> None:
    async with (
        running_broker(_settings(max_payload_bytes=100)) as running,
        aiomqtt.Client(running.host, running.port, protocol=V311) as client,
    ):
        await client.subscribe("t/#", qos=1)
        await client.publish("t/big", b"x" * 101, qos=1)
        await client.publish("t/fits", b"x" * 100, qos=1)
        message = await anext(aiter(client.messages))  # QoS 1 from one client: in order
        assert str(message.topic) == "t/fits"


async def test_persistence_keeps_retained_messages_across_restart(tmp_path: Path) -> None:
    settings = _settings(persistence=True, data_dir=tmp_path / "broker")
    async with (
        running_broker(settings) as running,
        aiomqtt.Client(running.host, running.port, protocol=V311) as client,
    ):
        await client.publish("edgefleet/v1/dev-1/status", b"online", qos=1, retain=True)
    assert settings.database.exists()

    async with (
        running_broker(settings) as running,
        aiomqtt.Client(running.host, running.port, protocol=V311) as client,
    ):
        await client.subscribe("edgefleet/v1/+/status", qos=1)
        message = await anext(aiter(client.messages))
        assert (message.payload, message.retain) == (b"online", True)


async def test_port_in_use_is_a_readable_error() -> None:
    async with running_broker(_settings()) as first:
        with pytest.raises(BrokerStartError, match=f"127.0.0.1:{first.port}"):
            async with running_broker(_settings(port=first.port)):
                pass


async def test_shutdown_releases_the_port() -> None:
    async with running_broker(_settings()) as running:
        port = running.port
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # raises if the listener were still open
