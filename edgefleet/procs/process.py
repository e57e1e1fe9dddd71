"""Start and stop child processes: `edgefleet ...` with this interpreter, logs to a file.

A child started with `spawn` gets SIGTERM from the kernel when the thread that started it
exits (Linux PR_SET_PDEATHSIG), and by default runs in its own session, so a terminal's
Ctrl-C reaches only the parent, which then stops its children in order: no orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO


def edgefleet_command() -> list[str]:
    """How to start `edgefleet ...` with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-c", "from edgefleet.cli import main; main()"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the kernel sends SIGTERM to this child when the parent thread exits."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    args: Sequence[str],
    *,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    new_session: bool = True,
    die_with_parent: bool = True,
    stdout_pipe: bool = False,
    cpus: set[int] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child; stdout+stderr to `log` (appended), a pipe, or /dev/null.

    `cpus`, when given, pins the child to those CPUs (where the platform allows it)."""
    out: int | IO[bytes]
    if stdout_pipe:
        out = subprocess.PIPE
    elif log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
    else:
        out = subprocess.DEVNULL
    linux = sys.platform.startswith("linux")
    try:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=new_session,
            preexec_fn=_die_with_parent if die_with_parent and linux else None,
        )
    finally:
        if not isinstance(out, int):
            out.close()
    if cpus:
        pin(proc.pid, cpus)
    return proc


def pin(pid: int, cpus: set[int]) -> None:
    """Restrict `pid` to `cpus`; a no-op where affinity is not supported or not allowed."""
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)


def stop_process(
    proc: subprocess.Popen[bytes], timeout: float = 10.0, sig: int = signal.SIGTERM
) -> int:
    """Send `sig` (SIGTERM), wait up to `timeout`, then SIGKILL; returns the exit code.
    A process that has already exited is only reaped."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def tail_chars(path: Path, chars: int = 3000) -> str:
    """The last `chars` characters of a log file ('' when there is none)."""
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def iter_children(pid: int) -> Iterator[int]:
    """Pids of live descendants of `pid` (Linux /proc), for tests and diagnostics."""
    try:
        import psutil

        yield from (p.pid for p in psutil.Process(pid).children(recursive=True))
    except Exception:
        return


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)
