"""Atomic writes: the new content replaces the file whole, or the old one stays, crash or not."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from models.files import atomic_writer, write_atomic


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"\x00\xffbytes", b"\x00\xffbytes"), ("text é", "text é".encode())],
    ids=["bytes", "text"],
)
def test_write_replaces_the_file(tmp_path: Path, data: bytes | str, expected: bytes) -> None:
    path = tmp_path / "sub" / "dir" / "f.json"  # missing parents are created
    write_atomic(path, "old")
    write_atomic(path, data)
    assert path.read_bytes() == expected
    assert leftovers(path.parent) == []


def test_a_writer_raising_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old content")

    def crash_half_way() -> None:
        with atomic_writer(path) as out:
            out.write(b"new con")  # half of it
            out.flush()
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        crash_half_way()
    assert path.read_bytes() == b"old content"
    assert leftovers(tmp_path) == []


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("device_id: old\n")
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from models.files import atomic_writer\n"
        "with atomic_writer(Path(sys.argv[1])) as out:\n"
        "    out.write(b'device_id: ne')\n"
        "    out.flush()\n"
        "    os._exit(9)  # no cleanup, no replace: as if the power went\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=root, check=False, timeout=60
    )
    assert done.returncode == 9
    assert path.read_text() == "device_id: old\n"
    assert len(leftovers(tmp_path)) == 1  # the partial temporary file, never the real one


def test_the_check_before_replacing_can_refuse(tmp_path: Path) -> None:
    """What `models.fetch` does: read back the temporary file, refuse it by raising."""
    path = tmp_path / "m.tflite"

    def write_and_check() -> None:
        with atomic_writer(path) as out:
            out.write(b"payload")
            out.flush()
            assert Path(out.name).read_bytes() == b"payload"
            raise ValueError("bad checksum")

    with pytest.raises(ValueError, match="bad"):
        write_and_check()
    assert not path.exists()
    assert leftovers(tmp_path) == []


def test_permissions(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    write_atomic(tmp_path / "default", b"x")
    write_atomic(tmp_path / "secret", "password: s", mode=0o600)
    perms = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert perms["default"] == perms["plain"]  # like any new file (the umask applies)
    assert perms["secret"] == 0o600
    write_atomic(tmp_path / "secret", "password: t", mode=0o600)  # replaced, still private
    assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600
