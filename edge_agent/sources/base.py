"""What every sensor source shares: its counters and state for `health.sources`, how a failure
is reported on `error`, and the backoff between attempts to open it again."""

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from tenacity import RetryCallState, wait_exponential_jitter

from contract import ErrorCode, SourceHealth, SourceState
from edge_agent.errors import Rejected

RETRY_MIN_S = 0.5
RETRY_MAX_S = 4.0  # a source that comes back is read again within about this long
FAILED_RETRY_S = 30.0  # a source that cannot be used as configured is tried again this rarely
RATE_WINDOW_S = 5.0
ANSWER_TIMEOUT_S = 30.0
"""A request of a source unanswered this long is given up (logged): a lost answer must not
silence the sensor for good. Every path of the dispatcher answers; this is the backstop."""


class SourceError(Exception):
    """The source cannot be read right now (unreachable, gone, stalled): tried again soon."""


class UnsupportedFormat(SourceError):
    """The source delivers something the agent cannot use as configured: tried again rarely."""


def retry_wait() -> Callable[[RetryCallState], float]:
    """tenacity's exponential backoff with jitter; FAILED_RETRY_S after an UnsupportedFormat."""
    backoff = wait_exponential_jitter(multiplier=RETRY_MIN_S, max=RETRY_MAX_S, jitter=RETRY_MIN_S)

    def wait(state: RetryCallState) -> float:
        failed = state.outcome.exception() if state.outcome is not None else None
        return FAILED_RETRY_S if isinstance(failed, UnsupportedFormat) else backoff(state)

    return wait


class Counters:
    """What a source counts (written by its reader, read by the heartbeat). A *frame* is a
    camera frame or a hop of audio; a frame *moved* when it passed the motion or sound gate."""

    def __init__(self) -> None:
        self.frames = 0
        self.looked = 0  # frames past the rate cap
        self.moving = 0
        self.inferred = 0
        self.dropped = 0
        self.reconnects = 0
        self.read_times: deque[float] = deque(maxlen=256)

    def read(self) -> float:
        """Count a frame read now; returns the time."""
        now = time.monotonic()
        self.frames += 1
        self.read_times.append(now)
        return now

    def rate(self, now: float) -> float:
        recent = [t for t in self.read_times if now - t <= RATE_WINDOW_S]
        if len(recent) < 2 or recent[-1] <= recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])


class Source:
    """A sensor source's identity, state and failure reporting; subclasses read the sensor."""

    kind: Literal["camera", "microphone"]

    def __init__(self, name: str, model: str, reject: Callable[[str, Rejected], None]) -> None:
        self.name, self.model = name, model
        self.source_topic = f"{self.kind}/{name}"  # results' `source_topic`, errors' `topic`
        self._reject = reject
        self.counters = Counters()
        self.state = SourceState.CONNECTING
        self.last_error: str | None = None
        self._reported: str | None = None  # the failure last published on `error`

    async def run(self) -> None:
        """The source's duty (an agent task): read the sensor until cancelled."""
        raise NotImplementedError

    def health(self) -> SourceHealth:
        c = self.counters
        return SourceHealth(
            kind=self.kind,
            model=self.model,
            state=self.state,
            fps=round(c.rate(time.monotonic()), 2),
            frames=c.frames,
            inferred=c.inferred,
            dropped=c.dropped,
            motion_ratio=round(c.moving / c.looked, 4) if c.looked else 0.0,
            reconnects=c.reconnects,
            last_error=self.last_error,
        )

    def session(self, up: bool) -> None:
        """The MQTT session came up or went down: a failure not yet published may have been
        dropped (errors do not wait in the outbox), so publish the next one again."""
        self._reported = None

    def failing(self, failed: BaseException | None, where: str = "") -> str:
        """Record a failed attempt (state, last error); returns the message to report, naming
        the source and `where` it reads from."""
        self.state = (
            SourceState.FAILED if isinstance(failed, UnsupportedFormat) else SourceState.CONNECTING
        )
        self.last_error = str(failed)
        self.counters.reconnects += 1
        return f"{self.kind} {self.name}{where}: {failed}"

    def report(self, message: str) -> None:
        """Publish a failure on `error`, once per distinct failure and MQTT session (loop)."""
        if message != self._reported:
            self._reported = message
            self._reject(self.source_topic, Rejected(ErrorCode.SOURCE_FAILED, message))

    def capturing(self) -> bool:
        """Frames arrive (again); True when that is news."""
        news = self.state is not SourceState.CAPTURING
        self.state = SourceState.CAPTURING
        self.last_error = None
        self._reported = None
        return news
