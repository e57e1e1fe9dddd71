"""Writing a file so that no reader and no crash ever sees it half-written: the bytes go to a
temporary file in the same directory, are fsynced, then `os.replace` swaps it in (atomic on
POSIX within one file system). Stdlib only: the agent, the hub and the tools all use it."""

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_writer(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` when the block ends; if the block raises, `path` is
    left as it was and the temporary file is removed. The file's `name` is the temporary path,
    e.g. to check what was written before it replaces `path`.

    `mode`: the file's permissions, set before anything is written (0o600 for secrets); None:
    what `open()` gives a new file (0o666 less the umask). Missing parent directories are
    created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as out:
            if mode is not None:
                os.fchmod(out.fileno(), mode)
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_atomic(
    path: Path, data: bytes | str, *, mode: int | None = None, encoding: str = "utf-8"
) -> None:
    """Replace `path` with `data` (text is encoded with `encoding`); see `atomic_writer`."""
    content = data.encode(encoding) if isinstance(data, str) else data
    with atomic_writer(path, mode=mode) as out:
        out.write(content)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (where the platform lets a directory be fsynced)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def default_model_dir() -> Path:
    """`$EDGEFLEET_MODEL_DIR`, else `$XDG_DATA_HOME/edgefleet/models` (~/.local/share/...)."""
    if env := os.environ.get("EDGEFLEET_MODEL_DIR"):
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "edgefleet" / "models"
