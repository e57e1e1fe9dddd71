"""Keep-alive on the embedded broker: a half-open client's Will fires (MQTT 3.1.1 §3.1.2.10).

amqtt 0.12.1 never enforced keep-alive, so a device whose process hangs (here: SIGSTOP) or
whose network is cut kept its session and never triggered its Will. Each client is a real
separate process (tests/broker/paho_process.py); waits are on its output lines, bounded.
"""

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contract import Kind, Topics
from tests.fixtures.brokers import BrokerProcess, SecuredBroker

pytestmark = pytest.mark.timeout(90)

CLIENT = Path(__file__).with_name("paho_process.py")
MOSQUITTO_PUB = "mosquitto_pub"
TOPICS = Topics()
KEEP_ALIVE = 2
BOUND = 10.0  # seconds: far above 1.5 x KEEP_ALIVE, far below "never"

Creds = tuple[str, str] | None


class ClientProcess:
    """One `paho_process.py` client; its stdout lines are kept and waited on."""

    def __init__(self, argv: list[str], password: str | None = None) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        env = {**os.environ, **({"MQTT_PASSWORD": password} if password is not None else {})}
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip())
                self._cond.notify_all()

    def count(self, line: str) -> int:
        with self._cond:
            return self.lines.count(line)

    def wait_for(self, line: str, times: int = 1, timeout: float = BOUND) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.lines.count(line) >= times, timeout):
                raise AssertionError(f"no {times} x {line!r} within {timeout}s: {self.lines}")

    def stop(self) -> None:
        """SIGSTOP: the process hangs, its socket stays open, nothing is sent any more."""
        self.proc.send_signal(signal.SIGSTOP)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


Launch = Callable[..., ClientProcess]


class Target:
    """A running amqtt broker and the credentials its clients use (None: anonymous)."""

    def __init__(self, process: BrokerProcess, creds: Callable[[str], Creds]) -> None:
        self.process, self.creds = process, creds


@pytest.fixture(params=["anonymous", "secured"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "anonymous":
        broker: BrokerProcess = request.getfixturevalue("amqtt_broker")
        return Target(broker, lambda _name: None)
    secured: SecuredBroker = request.getfixturevalue("secured_amqtt_broker")
    secrets = secured.add_devices(["cam-1", "cam-2"])
    accounts = {**secrets, secured.hub[0]: secured.hub[1]}
    return Target(secured.process, lambda name: (name, accounts[name]))


@pytest.fixture
def launch(target: Target) -> Iterator[Launch]:
    """Start a client process: `launch(client_id, *extra_args, user="...")`."""
    started: list[ClientProcess] = []

    def start(client_id: str, *extra: str, user: str | None = None) -> ClientProcess:
        creds = target.creds(user or client_id)
        argv = [sys.executable, str(CLIENT), "--port", str(target.process.port),
                "--id", client_id, *extra, *(["--user", creds[0]] if creds else [])]  # fmt: skip
        client = ClientProcess(argv, creds[1] if creds else None)
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


def device(launch: Launch, name: str) -> ClientProcess:
    """A device client with keep-alive 2 s, Will `offline` on its status topic, subscribed."""
    client = launch(name, "--keepalive", str(KEEP_ALIVE), "--will", TOPICS.status(name),
                    "offline", "--sub", TOPICS.filter(Kind.CMD, name))  # fmt: skip
    client.wait_for("subscribed")
    return client


def publish(target: Target, topic: str, payload: str) -> None:
    """QoS 1 publish as the hub, from a separate `mosquitto_pub` process."""
    creds = target.creds("hub")
    argv = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(target.process.port), "-V", "mqttv311",
            "-i", "hub-pub", "-q", "1", "-t", topic, "-m", payload,
            *(["-u", creds[0], "-P", creds[1]] if creds else [])]  # fmt: skip
    subprocess.run(argv, check=True, timeout=BOUND, capture_output=True)


def test_stopped_client_will_fires_and_pinging_client_stays(target: Target, launch: Launch) -> None:
    watcher = launch("watcher", "--sub", TOPICS.filter(Kind.STATUS), user="hub")
    watcher.wait_for("subscribed")
    steady = device(launch, "cam-2")  # keeps pinging
    hung = device(launch, "cam-1")

    hung.stop()
    watcher.wait_for(f"message {TOPICS.status('cam-1')} offline")  # closed at 1.5 x 2 s

    steady.wait_for("pong", times=3)  # >= 6 s connected, pings every 2 s
    publish(target, TOPICS.cmd("cam-2", "ping"), "still-there")
    steady.wait_for(f"message {TOPICS.cmd('cam-2', 'ping')} still-there")
    assert watcher.count(f"message {TOPICS.status('cam-2')} offline") == 0
    assert steady.count("connected Success") == 1  # never dropped and reconnected
    assert not [line for line in target.process.output if "Traceback" in line]
