"""`free_port`: the ports tests, benchmarks and the demo give their servers.

A port from `bind(0)` lies in the kernel's ephemeral range, and once the probe socket closes the
kernel may hand it to any outgoing connection as its source port before the server binds it:
the offload benchmark's hub once failed to start with "address already in use" because its own
MQTT connection had taken its HTTP port."""

import socket
from pathlib import Path

import pytest

from cloud_hub import serving
from cloud_hub.serving import free_port


def test_ports_are_outside_the_ephemeral_range_bindable_and_not_handed_out_twice() -> None:
    low, high = map(int, serving.EPHEMERAL_RANGE_FILE.read_text().split())
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert not [p for p in ports if low <= p <= high]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The draw lands on a listening port first: the next one is returned instead."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        ranges = tmp_path / "range"  # everything below `taken` counts as ephemeral here,
        ranges.write_text(f"{serving._LOWEST_PORT} {taken - 1}\n")  # so the pool starts at it
        monkeypatch.setattr(serving, "EPHEMERAL_RANGE_FILE", ranges)
        draws = iter(range(1000))
        monkeypatch.setattr(serving.secrets, "randbelow", lambda n: next(draws))
        chosen = free_port()
    assert chosen > taken


def test_a_range_that_leaves_no_room_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ranges = tmp_path / "range"
    ranges.write_text("1024 65000\n")
    monkeypatch.setattr(serving, "EPHEMERAL_RANGE_FILE", ranges)
    with pytest.raises(RuntimeError, match=r"1024-65000 .* too few ports"):
        free_port()
