"""`edgefleet fl` against a hub it cannot use: one clear line and a non-zero exit, no traceback
(issue #14)."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EDGEFLEET = str(Path(sys.executable).with_name("edgefleet"))
COMMANDS = [["history"], ["status", "1"], ["status", "1", "--updates"], ["start"]]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound (no one else can take it) but not listening: connecting
    to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def fl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EDGEFLEET, "fl", *args, "--key", "efk_test"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c))
def test_unreachable_hub_is_one_line_naming_the_url(command: list[str], closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    proc = fl(*command, "--hub", url)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert url in lines[0]
    assert "refused" in lines[0].lower()
    assert proc.stdout == ""


def test_a_hub_url_without_scheme_is_one_line(closed_port: int) -> None:
    proc = fl("history", "--hub", f"127.0.0.1:{closed_port}")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"127.0.0.1:{closed_port}" in lines[0]


def test_a_server_that_is_not_the_hub_is_one_line(tmp_path: Path) -> None:
    """A plain web server (not JSON) on the URL: named, not a JSONDecodeError traceback."""
    (tmp_path / "api" / "v1" / "fl").mkdir(parents=True)
    (tmp_path / "api" / "v1" / "fl" / "rounds").write_text("<html>not the hub</html>")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                import time

                time.sleep(0.05)
        proc = fl("history", "--hub", f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(10)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"http://127.0.0.1:{port}/api/v1/fl/rounds" in lines[0]
