"""The TLS listener with per-device client certificates, against the real brokers.

A throwaway PKI (tests/fixtures/pki.py) is generated per test: a CA, a server certificate for
127.0.0.1/localhost, device certificates, and a rogue CA. `edgefleet broker` (amqtt) runs with
a credentials file and `--tls-require-client-cert`; Debian's Mosquitto with the equivalent
`require_certificate true` + `use_identity_as_username true`. Clients build their TLS context
with the agent's own `edge_agent.tls.client_context`.
"""

import asyncio
import getpass
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from paho.mqtt.enums import CallbackAPIVersion

from broker.credentials import CredentialsFile, FileEntry, hash_secret, new_secret
from broker.server import running_broker
from broker.settings import BrokerConfigError, BrokerSettings, load_settings
from contract import Topics
from edge_agent.config import BrokerTlsConfig, parse_config
from edge_agent.errors import ConfigError
from edge_agent.tls import client_context
from tests.fixtures.brokers import MOSQUITTO, BrokerProcess, _launch
from tests.fixtures.pki import Issued, Pki, make_pki
from tests.fixtures.ports import free_port
from tests.fixtures.requires import require_tools

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))
V311 = aiomqtt.ProtocolVersion.V311
T = Topics()
DEVICES = ("dev-a", "dev-b")
TIMEOUT = 20.0


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@dataclass
class TlsBroker:
    """A broker with a plain listener and a TLS listener requiring client certificates."""

    name: str
    process: BrokerProcess
    tls_port: int
    passwords: dict[str, str]
    """account -> password (Mosquitto takes the identity from the certificate instead)."""

    @property
    def host(self) -> str:
        return self.process.host

    @property
    def plain_port(self) -> int:
        return self.process.port


def _amqtt_tls(tmp_path: Path, pki: Pki) -> Iterator[TlsBroker]:
    workdir = tmp_path / "amqtt-tls"
    workdir.mkdir()
    passwords = {name: new_secret() for name in ("hub", *DEVICES)}
    creds = workdir / "credentials.json"
    entries = [
        FileEntry(
            name=name, kind="hub" if name == "hub" else "device", secret_sha256=hash_secret(pw)
        )
        for name, pw in passwords.items()
    ]
    CredentialsFile(accounts=entries).write(creds)

    def argv(port: int) -> list[str]:
        return [EDGEFLEET, "broker", "--host", "127.0.0.1", "--port", str(port),
                "--credentials-file", str(creds), "--tls-port", "0",
                "--tls-certfile", str(pki.server.cert), "--tls-keyfile", str(pki.server.key),
                "--tls-cafile", str(pki.ca.path), "--tls-require-client-cert"]  # fmt: skip

    process = _launch("amqtt", workdir, argv, "broker listening on")
    found = [re.search(r"broker TLS listener on mqtts://127\.0\.0\.1:(\d+)", line)
             for line in process.output]  # fmt: skip
    ports = [int(match.group(1)) for match in found if match]
    assert ports, f"no TLS listener line in {list(process.output)}"
    yield TlsBroker("amqtt", process, ports[0], passwords)
    process.kill()


def _mosquitto_tls(tmp_path: Path, pki: Pki) -> Iterator[TlsBroker]:
    if not Path(MOSQUITTO).exists():
        require_tools("mosquitto")
    workdir = tmp_path / "mosquitto-tls"
    workdir.mkdir()
    tls_ports: list[int] = []

    def argv(port: int) -> list[str]:
        tls_ports.append(free_port())
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            "allow_anonymous true\n"  # the plain listener, for the observer
            f"listener {port} 127.0.0.1\n"
            f"listener {tls_ports[-1]} 127.0.0.1\n"
            f"cafile {pki.ca.path}\n"
            f"certfile {pki.server.cert}\n"
            f"keyfile {pki.server.key}\n"
            "require_certificate true\n"
            "use_identity_as_username true\n"
            f"user {getpass.getuser()}\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        )
        return [MOSQUITTO, "-c", str(conf)]

    process = _launch("mosquitto", workdir, argv, " running")
    passwords = dict.fromkeys(("hub", *DEVICES), "ignored")
    yield TlsBroker("mosquitto", process, tls_ports[-1], passwords)
    process.kill()


@pytest.fixture(params=["amqtt", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
def tls_broker(request: pytest.FixtureRequest, tmp_path: Path, pki: Pki) -> Iterator[TlsBroker]:
    start = _amqtt_tls if request.param == "amqtt" else _mosquitto_tls
    yield from start(tmp_path, pki)


@pytest.fixture
def amqtt_tls(tmp_path: Path, pki: Pki) -> Iterator[TlsBroker]:
    yield from _amqtt_tls(tmp_path, pki)


def tls(pki: Pki, issued: Issued | None, ca: Path | None = None) -> ssl.SSLContext:
    """A client context built by the agent's own code."""
    config = BrokerTlsConfig(
        ca_file=ca or pki.ca.path,
        cert_file=None if issued is None else issued.cert,
        key_file=None if issued is None else issued.key,
    )
    return client_context(config)


def client(
    broker: TlsBroker,
    account: str,
    context: ssl.SSLContext | None,
    *,
    password: str | None = None,
    client_id: str | None = None,
) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.tls_port,
        identifier=client_id or account,
        username=account,
        password=password or broker.passwords[account],
        protocol=V311,
        tls_context=context,
        timeout=10,
    )


def attempt(
    broker: TlsBroker,
    account: str,
    context: ssl.SSLContext | None,
    *,
    password: str | None = None,
    client_id: str | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """Connect with paho to the TLS port: "connected", or how it failed ("refused: <CONNACK
    reason>", "lost: <error>"). aiomqtt 2.5 ignores a connection closed before the CONNACK
    and waits for its timeout, so it cannot tell a refusal from a hang; paho can."""
    outcome: list[str] = []
    mqtt = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or account, protocol=paho.MQTTv311
    )
    mqtt.username_pw_set(account, password or broker.passwords[account])
    if context is not None:
        mqtt.tls_set_context(context)
    mqtt.on_connect = lambda _c, _u, _f, rc, _p: outcome.append(
        f"refused: {rc}" if rc.is_failure else "connected"
    )
    mqtt.on_disconnect = lambda _c, _u, _f, rc, _p: outcome.append(f"lost: {rc}")
    deadline = time.monotonic() + timeout
    try:
        mqtt.connect(broker.host, broker.tls_port, keepalive=30)
        while not outcome and time.monotonic() < deadline:
            rc = mqtt.loop(timeout=1.0)  # waits on the socket, returns on any traffic
            if rc != paho.MQTT_ERR_SUCCESS and not outcome:
                outcome.append(f"lost: {paho.error_string(rc)}")
    except OSError as exc:  # ssl.SSLError included: the handshake failed client-side
        outcome.append(f"lost: {exc!r}")
    finally:
        if outcome[:1] == ["connected"]:
            mqtt.disconnect()
        mqtt._reset_sockets()  # no ResourceWarning (pytest runs with filterwarnings=error)
    return outcome[0] if outcome else f"timed out after {timeout}s"


def refused(outcome: str) -> None:
    assert outcome.startswith(("refused:", "lost:")), outcome


async def next_message(mqtt: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(TIMEOUT):
        return await anext(aiter(mqtt.messages))


# --- both brokers -----------------------------------------------------------------------


async def test_device_certificate_round_trips_qos1_over_tls(
    tls_broker: TlsBroker, pki: Pki
) -> None:
    async with (
        client(tls_broker, "hub", tls(pki, pki.device("hub"))) as hub,
        client(tls_broker, "dev-a", tls(pki, pki.device("dev-a"))) as device,
    ):
        await hub.subscribe(T.status("dev-a"), qos=1)
        await device.subscribe(T.cmd("dev-a", "ping"), qos=1)

        await device.publish(T.status("dev-a"), b'{"up": 1}', qos=1)
        up = await next_message(hub)
        await hub.publish(T.cmd("dev-a", "ping"), b"{}", qos=1)
        down = await next_message(device)

    assert (str(up.topic), up.payload, up.qos) == (T.status("dev-a"), b'{"up": 1}', 1)
    assert (str(down.topic), down.qos) == (T.cmd("dev-a", "ping"), 1)


def test_valid_device_certificate_connects(tls_broker: TlsBroker, pki: Pki) -> None:
    assert attempt(tls_broker, "dev-a", tls(pki, pki.device("dev-a"))) == "connected"


def test_no_client_certificate_is_refused(tls_broker: TlsBroker, pki: Pki) -> None:
    refused(attempt(tls_broker, "dev-a", tls(pki, None)))


def test_certificate_from_another_ca_is_refused(tls_broker: TlsBroker, pki: Pki) -> None:
    refused(attempt(tls_broker, "dev-a", tls(pki, pki.rogue.issue("dev-a"))))


def test_plain_tcp_to_the_tls_port_is_refused(tls_broker: TlsBroker) -> None:
    refused(attempt(tls_broker, "dev-a", None))


def test_broker_certificate_from_another_ca_is_refused_by_the_client(
    tls_broker: TlsBroker, pki: Pki
) -> None:
    context = tls(pki, pki.device("dev-a"), ca=pki.rogue.path)
    with (
        socket.create_connection((tls_broker.host, tls_broker.tls_port), TIMEOUT) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname=tls_broker.host)  # paho leaks it on failure


def test_refusals_leave_the_tls_listener_serving(tls_broker: TlsBroker, pki: Pki) -> None:
    refused(attempt(tls_broker, "dev-a", tls(pki, None)))
    refused(attempt(tls_broker, "dev-a", None))
    refused(attempt(tls_broker, "dev-a", tls(pki, pki.rogue.issue("dev-a"))))
    assert attempt(tls_broker, "dev-a", tls(pki, pki.device("dev-a"))) == "connected"


# --- amqtt: the certificate names the account, the password still counts --------------------


def test_certificate_cn_must_be_the_username(amqtt_tls: TlsBroker, pki: Pki) -> None:
    outcome = attempt(amqtt_tls, "dev-a", tls(pki, pki.device("dev-b")))

    # dev-a's own password and client id: only the certificate is wrong
    assert outcome == "refused: Not authorized"


def test_certificate_cn_must_be_the_client_id_of_a_device(amqtt_tls: TlsBroker, pki: Pki) -> None:
    # CN = username = dev-a, but the device's client id is dev-b: the account pins it
    outcome = attempt(amqtt_tls, "dev-a", tls(pki, pki.device("dev-a")), client_id="dev-b")

    assert outcome == "refused: Not authorized"


def test_certificate_does_not_replace_the_password(amqtt_tls: TlsBroker, pki: Pki) -> None:
    outcome = attempt(amqtt_tls, "dev-a", tls(pki, pki.device("dev-a")), password="wrong")

    assert outcome == "refused: Not authorized"


async def test_plain_listener_still_serves_password_clients(amqtt_tls: TlsBroker) -> None:
    async with aiomqtt.Client(
        amqtt_tls.host,
        amqtt_tls.plain_port,
        identifier="hub-plain",
        username="hub",
        password=amqtt_tls.passwords["hub"],
        protocol=V311,
    ) as hub:
        await hub.publish(T.cmd("dev-a", "ping"), b"{}", qos=1)


async def test_in_process_tls_port_and_denial_counter(tmp_path: Path, pki: Pki) -> None:
    settings = BrokerSettings(
        port=0,
        allow_anonymous=True,
        persistence=False,
        tls_port=0,
        tls_certfile=pki.server.cert,
        tls_keyfile=pki.server.key,
        tls_cafile=pki.ca.path,
        tls_require_client_cert=True,
    )
    async with running_broker(settings) as running:
        assert running.tls_port not in (None, 0, running.port)
        assert running.tls_url == f"mqtts://127.0.0.1:{running.tls_port}"
        context = tls(pki, pki.device("dev-a"))
        # without a username the CN must be the client id
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(
                running.host, running.tls_port, identifier="other", protocol=V311,
                tls_context=context, timeout=10,
            ):  # fmt: skip
                pass
        async with aiomqtt.Client(
            running.host, running.tls_port, identifier="dev-a", protocol=V311,
            tls_context=context, timeout=10,
        ) as device:  # fmt: skip
            await device.publish("sensors/a", b"1", qos=1)
        assert running.denied.get("connect_certificate") == 1


# --- the agent over TLS, on both brokers ---------------------------------------------------


@pytest.fixture
async def observer(tls_broker: TlsBroker) -> AsyncIterator[aiomqtt.Client]:
    """A plain-listener client that reads the devices' status (amqtt: the hub account)."""
    secured = tls_broker.name == "amqtt"
    async with aiomqtt.Client(
        tls_broker.host,
        tls_broker.plain_port,
        identifier="observer",
        username="hub" if secured else None,
        password=tls_broker.passwords["hub"] if secured else None,
        protocol=V311,
    ) as mqtt:
        yield mqtt


@pytest.mark.e2e
@pytest.mark.slow
async def test_agent_comes_online_over_tls(
    tls_broker: TlsBroker, pki: Pki, tmp_path: Path, observer: aiomqtt.Client
) -> None:
    device = pki.device("dev-a")
    config = {
        "device_id": "dev-a",
        "models": ["face-detect-lite"],
        "health_interval_s": 1,
        "outbox": {"memory": True},
        "broker": {
            "host": "127.0.0.1",
            "port": tls_broker.tls_port,
            "username": "dev-a",
            "password": tls_broker.passwords["dev-a"],
            "keepalive": 10,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2,
            "tls": {
                "ca_file": str(pki.ca.path),
                "cert_file": str(device.cert),
                "key_file": str(device.key),
            },
        },
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    log = tmp_path / "agent.log"
    await observer.subscribe(T.status("dev-a"), qos=1)
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *[EDGEFLEET, "agent", "--config", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "EDGEFLEET_STATE_DIR": str(tmp_path)},
        )
    try:
        async with asyncio.timeout(TIMEOUT):
            async for message in observer.messages:
                if json.loads(bytes(message.payload or b"{}"))["state"] == "online":  # type: ignore[arg-type]
                    break
    except TimeoutError:
        raise AssertionError(f"agent never came online over TLS:\n{log.read_text()}") from None
    finally:
        proc.terminate()
        async with asyncio.timeout(20):
            await proc.wait()
    assert "connected to 127.0.0.1:" in log.read_text()


# --- settings and configuration ------------------------------------------------------------


def _tls_settings(pki: Pki, **overrides: object) -> dict[str, object]:
    return {
        "port": 0,
        "allow_anonymous": True,
        "tls_port": 0,
        "tls_certfile": pki.server.cert,
        "tls_keyfile": pki.server.key,
        "tls_cafile": pki.ca.path,
        "tls_require_client_cert": True,
        **overrides,
    }


def test_good_tls_settings_load(pki: Pki) -> None:
    settings = load_settings(**_tls_settings(pki))
    assert settings.tls_files is not None
    assert settings.tls_bind == "127.0.0.1:0"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tls_certfile": None}, "tls_port needs tls_certfile"),
        ({"tls_port": None}, "given but no tls_port"),
        ({"tls_cafile": None}, "tls_require_client_cert needs tls_cafile"),
        ({"tls_certfile": Path("/nonexistent/server.crt")}, "does not exist"),
        ({"tls_port": 70000}, "must be between 1 and 65535"),
        ({"port": 8883, "tls_port": 8883}, "tls_port and port are both 8883"),
    ],
    ids=["no-cert", "no-port", "require-without-ca", "missing-file", "bad-port", "same-port"],
)
def test_bad_tls_settings_are_explained(
    pki: Pki, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(BrokerConfigError, match=re.escape(message)):
        load_settings(**_tls_settings(pki, **overrides))


def test_key_of_another_certificate_is_refused(pki: Pki) -> None:
    other = pki.device("dev-a")
    with pytest.raises(BrokerConfigError, match="does not match the certificate"):
        load_settings(**_tls_settings(pki, tls_keyfile=other.key))


def test_encrypted_key_is_refused(pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.server.key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(BrokerConfigError, match="is encrypted; the broker takes no passphrase"):
        load_settings(**_tls_settings(pki, tls_keyfile=encrypted))


def test_not_a_certificate_is_refused(pki: Pki) -> None:
    with pytest.raises(BrokerConfigError, match="holds no PEM certificate"):
        load_settings(**_tls_settings(pki, tls_certfile=pki.server.key))


NOBODY = 65534


def _refusal_as_nobody(settings: dict[str, object]) -> str:
    """`load_settings(**settings)` in a forked child running as `nobody` (root reads any
    file); returns the BrokerConfigError message, or what went wrong instead."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            load_settings(**settings)  # type: ignore[arg-type]
            message = "accepted"
        except BrokerConfigError as exc:
            message = str(exc)
        except BaseException as exc:  # anything else is reported, never raised in the child
            message = f"unexpected {exc!r}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_unreadable_key_is_refused(pki: Pki) -> None:
    """Under root (CI) the check runs as `nobody` in a forked child, on copies in a directory
    that user may enter: root itself reads any file."""
    if os.geteuid() != 0:
        pki.server.key.chmod(0)
        with pytest.raises(BrokerConfigError, match="is not readable"):
            load_settings(**_tls_settings(pki))
        return
    shared = Path(tempfile.mkdtemp(prefix="edgefleet-tls-"))
    try:
        shared.chmod(0o755)
        copies = {}
        for name, source, mode in (("cert", pki.server.cert, 0o644),
                                   ("key", pki.server.key, 0o600),  # root's only
                                   ("ca", pki.ca.path, 0o644)):  # fmt: skip
            copies[name] = shared / source.name
            copies[name].write_bytes(source.read_bytes())
            copies[name].chmod(mode)
        settings = _tls_settings(
            pki, tls_certfile=copies["cert"], tls_keyfile=copies["key"], tls_cafile=copies["ca"]
        )
        assert "is not readable" in _refusal_as_nobody(settings)
        copies["key"].chmod(0o644)  # the same check passes once nobody may read the key
        assert _refusal_as_nobody(settings) == "accepted"
    finally:
        shutil.rmtree(shared)


def test_cli_validate_config_reports_a_key_mismatch(pki: Pki) -> None:
    result = subprocess.run(
        [EDGEFLEET, "broker", "--tls-port", "8883", "--tls-certfile", str(pki.server.cert),
         "--tls-keyfile", str(pki.device("dev-a").key), "--validate-config"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "does not match the certificate" in result.stderr
    assert "Traceback" not in result.stderr


def test_agent_tls_config_is_checked(pki: Pki, tmp_path: Path) -> None:
    base = {"device_id": "dev-a", "models": ["face-detect-lite"]}
    with pytest.raises(ConfigError, match="cert_file and key_file go together"):
        parse_config({**base, "broker": {"tls": {"cert_file": str(pki.server.cert)}}})
    with pytest.raises(ConfigError, match="is not a file"):
        parse_config({**base, "broker": {"tls": {"ca_file": str(tmp_path / "nope.crt")}}})
    mismatched = BrokerTlsConfig(cert_file=pki.device("dev-a").cert, key_file=pki.server.key)
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        client_context(mismatched)
    insecure = client_context(BrokerTlsConfig(ca_file=pki.ca.path, insecure=True))
    assert insecure.check_hostname is False
    assert insecure.verify_mode == ssl.CERT_REQUIRED
