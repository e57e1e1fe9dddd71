"""Wait for a child process to be ready: a bounded poll that notices when the child dies."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Mapping


class StartError(RuntimeError):
    """A child process did not come up; the message says which and why."""


class ExitedEarly(StartError):
    """The child exited while we waited for it."""

    def __init__(self, what: str, returncode: int) -> None:
        super().__init__(f"{what} exited with {returncode}")
        self.returncode = returncode


class NotReady(StartError):
    """The child was still running, but not ready, when the time was up."""


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes] | None,
    *,
    timeout: float,
    what: str = "process",
    interval: float = 0.1,
) -> None:
    """Poll `ready()` every `interval` s until it is true; raise `ExitedEarly` as soon as
    `proc` has exited, `NotReady` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ExitedEarly(what, int(proc.returncode))
        if ready():
            return
        if time.monotonic() > deadline:
            raise NotReady(f"{what} not ready after {timeout:.0f} s")
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on `host:port`."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout):
        return True
    return False


def http_ok(url: str, headers: Mapping[str, str] | None = None, timeout: float = 1.0) -> bool:
    """Whether GET `url` answers 200."""
    import httpx

    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, headers=dict(headers or {}), timeout=timeout).status_code == 200
    return False
