"""The agent's last log lines in memory, for the `logs` command: a device's journal may be
unreachable (no SSH, read-only image), and reading it would need rights the agent lacks."""

import logging
from collections import deque

from contract.command import LOG_BYTES_MAX, LOG_LINES_MAX

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogRing(logging.Handler):
    """Keeps the newest `LOG_LINES_MAX` formatted records (a bounded deque: constant memory)."""

    def __init__(self, capacity: int = LOG_LINES_MAX) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT))
        self._lines: deque[str] = deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:  # logging must never raise into the caller
            self.handleError(record)

    def tail(self, n: int, max_bytes: int = LOG_BYTES_MAX) -> tuple[list[str], bool]:
        """The last `n` lines, oldest first, fewer when they would exceed `max_bytes` (UTF-8,
        one newline each); True when lines were left out for that reason."""
        picked: list[str] = []
        size = 0
        for line in reversed(list(self._lines)[-n:]):
            size += len(line.encode()) + 1
            if size > max_bytes:
                return picked[::-1], True
            picked.append(line)
        return picked[::-1], False


_RING: LogRing | None = None


def ring() -> LogRing:
    """The process's ring, attached to the root logger on first use."""
    global _RING
    if _RING is None:
        _RING = LogRing()
        logging.getLogger().addHandler(_RING)
    return _RING
