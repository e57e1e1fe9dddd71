"""The hub's cloud inference as seen from a device: an httpx client with the device's Basic
credentials, a circuit breaker with half-open probing, and the link's RTT (what an offload
costs end to end is measured by the dispatcher, alike for both sides)."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from contract import ContractError, EdgeAnswer, InferResult, decode, http
from contract.http import EDGE_ANSWER_MAX
from contract.inference import edge_answer_header
from edge_agent.offload import EXPLORE_AFTER_S

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 60.0
"""An idle connection to the hub is kept this long (httpx's default is 5 s): an idle hub is
probed every 16 s (`probe_due`), so the next offload finds the connection open. The hub keeps
it 75 s (cloud_hub.cli.KEEP_ALIVE_S); one closed earlier is noticed and replaced by httpx."""


class CloudError(Exception):
    """An offload call failed; `retryable` errors (network, 5xx) count against the breaker."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Ewma:
    """Exponentially weighted moving average; None until the first sample.

    With `stale_after_s`, a sample arriving after that long without one replaces the value
    instead of blending into it: an old average (say, local inference times measured while
    the CPU was saturated) says nothing about now. With `median_of` n, what blends in is the
    lower median of the last n samples (since the last replacement): one slow answer - a
    scheduling hiccup on a busy host - does not move the average, two of the last three do."""

    def __init__(
        self,
        alpha: float = 0.2,
        stale_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        median_of: int = 1,
    ) -> None:
        self.alpha, self.stale_after_s, self._clock = alpha, stale_after_s, clock
        self.value: float | None = None
        self.updated = float("-inf")
        self._recent: deque[float] = deque(maxlen=median_of)

    def stale(self) -> bool:
        return self.stale_after_s is not None and self.age() > self.stale_after_s

    def age(self) -> float:
        return self._clock() - self.updated

    def add(self, sample: float) -> float:
        v = self.value
        if v is None or self.stale():
            self._recent.clear()
            v = sample
        self._recent.append(sample)
        recent = sorted(self._recent)
        self.value = v + self.alpha * (recent[(len(recent) - 1) // 2] - v)  # the lower median
        self.updated = self._clock()
        return self.value


LATENCY_MEDIAN_OF = 3
"""`latency_estimate`'s spike filter: a side's estimate follows the median of its last three
answers, so one slow answer cannot send the next seconds of traffic elsewhere."""


def latency_estimate(clock: Callable[[], float] = time.monotonic) -> Ewma:
    """How long a side (the edge, the hub, a gateway) takes from a request's arrival to its
    answer, as the offload policy reads it: re-measured from scratch after `EXPLORE_AFTER_S`
    unused, and deaf to a single outlier (docs/offload.md "What each side is expected to cost")."""
    return Ewma(stale_after_s=EXPLORE_AFTER_S, clock=clock, median_of=LATENCY_MEDIAN_OF)


class WindowMin:
    """The smallest of the last `size` samples: a link's floor RTT. Scheduling delays on a
    busy device only ever add to a measured RTT, so the minimum is the robust estimate."""

    def __init__(self, size: int = 8) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, sample: float) -> None:
        self._samples.append(sample)

    @property
    def value(self) -> float | None:
        return min(self._samples) if self._samples else None


def parse_server_timing(header: str | None) -> dict[str, float]:
    """`total;dur=12.3, infer;dur=4.5` -> {"total": 12.3, "infer": 4.5} (bad parts ignored)."""
    out: dict[str, float] = {}
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name:
                try:
                    out[name] = float(value.strip('"'))
                except ValueError:
                    continue
    return out


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed -> (N consecutive failures) -> open -> (cool-down) -> half-open: one trial call
    at a time; its success closes the breaker, its failure opens it again."""

    def __init__(
        self,
        failures: int = 3,
        cooldown_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.cooldown_s, self._clock = failures, cooldown_s, clock
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened = 0.0
        self._trial = False

    def available(self) -> bool:
        """Whether a call may be made now (the policy's `cloud_available`)."""
        if self.state is BreakerState.OPEN and self._clock() - self._opened >= self.cooldown_s:
            self.state = BreakerState.HALF_OPEN
            self._trial = False
        if self.state is BreakerState.HALF_OPEN:
            return not self._trial
        return self.state is BreakerState.CLOSED

    def acquire(self) -> bool:
        """Take the right to call; in half-open only one caller gets it."""
        if not self.available():
            return False
        if self.state is BreakerState.HALF_OPEN:
            self._trial = True
        return True

    def success(self) -> None:
        self.state, self._failures, self._trial = BreakerState.CLOSED, 0, False

    def failure(self) -> None:
        self._failures += 1
        self._trial = False
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.threshold:
            self.state, self._opened = BreakerState.OPEN, self._clock()


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    result: InferResult
    elapsed_ms: float
    sent_bytes: int
    server_ms: float | None = None  # the hub's own time (Server-Timing `total`)


class CloudClient:
    """`POST` to the hub's infer path (contract.http.INFER) with Basic device credentials,
    behind the breaker."""

    def __init__(
        self,
        url: str,
        device_id: str,
        secret: str | None,
        *,
        timeout_s: float = 2.0,
        breaker: CircuitBreaker | None = None,
        transport: "httpx.AsyncBaseTransport | None" = None,
    ) -> None:
        import httpx  # only a device with a hub needs it (footprint: docs/agent.md)

        auth = httpx.BasicAuth(device_id, secret) if secret else None
        self._errors = (httpx.HTTPError, OSError)
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            auth=auth,
            timeout=timeout_s,
            transport=transport,
            limits=httpx.Limits(keepalive_expiry=KEEP_ALIVE_S),
        )
        self.timeout_s = timeout_s
        self.breaker = breaker or CircuitBreaker()
        self.rtt = Ewma()  # light probes and calls: what the link + hub cost (health)
        self.net = WindowMin(4)  # floor of the link's cost: probes, calls minus server time
        self.sent_bytes = 0
        self.calls = 0
        self.failures = 0

    def available(self) -> bool:
        return self.breaker.available()

    async def infer(
        self,
        model: str,
        payload: bytes,
        content_type: str,
        rid: str | None = None,
        edge: EdgeAnswer | None = None,
        timeout_s: float | None = None,
    ) -> CloudAnswer:
        """Run `model` on the hub; raise CloudError (the breaker has already been told).
        `edge`: the device's own answer, for the hub's hard samples (skipped when too long
        for a header); `timeout_s`: this call's, instead of the client's."""
        if not self.breaker.acquire():
            raise CloudError("cloud circuit open", retryable=True)
        params = {"rid": rid} if rid else None
        headers = {"content-type": content_type}
        if edge is not None and len(value := edge_answer_header(edge)) <= EDGE_ANSWER_MAX:
            headers[http.EDGE_ANSWER] = value
        started = time.perf_counter()
        try:
            response = await self._http.post(
                http.path(http.INFER, model=model),
                content=payload,
                params=params,
                headers=headers,
                timeout=timeout_s if timeout_s is not None else self.timeout_s,
            )
        except self._errors as exc:
            self._failed()
            raise CloudError(f"cloud call failed: {exc!r}", retryable=True) from None
        elapsed = (time.perf_counter() - started) * 1000.0
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            self._failed()
            raise CloudError(f"hub answered {response.status_code}", retryable=True)
        if response.status_code != 200:  # the input itself is bad: not the cloud's fault
            self.breaker.success()
            raise CloudError(f"hub refused: {response.text[:200]}", retryable=False)
        try:
            result = decode(InferResult, response.content)
        except ContractError as exc:
            self._failed()
            raise CloudError(str(exc), retryable=True) from None
        self.breaker.success()
        self.calls += 1
        self.sent_bytes += len(payload)
        self.rtt.add(elapsed)
        server = parse_server_timing(response.headers.get("server-timing")).get("total")
        if server is not None:
            self.net.add(max(0.0, elapsed - server))
        return CloudAnswer(result, elapsed, len(payload), server)

    def _failed(self) -> None:
        self.failures += 1
        self.breaker.failure()

    async def probe(self) -> float | None:
        """A light `GET` of contract.http.HEALTHZ; feeds the RTT EWMA, drives half-open recovery."""
        if not self.breaker.acquire():
            return None
        started = time.perf_counter()
        try:
            response = await self._http.get(http.HEALTHZ)
        except self._errors:
            self._failed()
            return None
        if response.status_code != 200:
            self._failed()
            return None
        elapsed = (time.perf_counter() - started) * 1000.0
        self.breaker.success()
        self.net.add(elapsed)
        return self.rtt.add(elapsed)

    def probe_due(self, fresh_s: float) -> bool:
        """Whether the link needs a probe now: always while the breaker is not closed (a probe
        is what re-closes it), else only when no call or probe measured it for `fresh_s`."""
        return self.breaker.state is not BreakerState.CLOSED or self.rtt.age() >= fresh_s

    async def probe_forever(self, interval_s: float, fresh_s: float) -> None:
        """The `cloud-probe` task: every `interval_s`, a probe if one is due (`probe_due`). A
        closed link is not probed more often: a hub that fails is noticed by the call that
        fails, and each probe costs a starved device tail latency (docs/offload.md)."""
        while True:
            if self.probe_due(fresh_s):
                await self.probe()
            await asyncio.sleep(interval_s)

    async def aclose(self) -> None:
        await self._http.aclose()
