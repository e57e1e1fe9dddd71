"""The offload policy: a pure function from a snapshot of signals to a decision with a reason.

Nothing here does I/O or keeps state; the caller passes the previous decision in (hysteresis)
and counts the returned reason. Defaults follow the design brief's rules of thumb (SPEC §2):

* run locally when device load < 0.6 and cloud latency > 150 ms;
* healthy bands CPU < 70 %, memory < 65 %, RTT < 50 ms; load score
  0.4·CPU + 0.3·memory + 0.3·(RTT / 100 ms);
* voice goes to the cloud only when RTT < 100 ms and battery > 20 %;
* the full model is loaded when device load < 0.5 and priority is high.
"""

from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """Per-pipeline offload mode."""

    EDGE = "edge"  # always local
    CLOUD = "cloud"  # always the hub's full model (edge when the cloud is down)
    ADAPTIVE = "adaptive"  # per request, whichever is expected to answer sooner
    CASCADE = "cascade"  # local first; the cloud's full model for uncertain answers


class Where(StrEnum):
    EDGE = "edge"
    CLOUD = "cloud"


class Reason(StrEnum):
    """Why a request ran where it ran; each is a counter `offload.{where}.{reason}`."""

    MODE_EDGE = "mode_edge"
    MODE_CLOUD = "mode_cloud"
    CLOUD_DOWN = "cloud_down"  # circuit breaker open (or no hub configured)
    BATTERY_LOW = "battery_low"
    VOICE_RTT = "voice_rtt"  # voice offloads only on a fast link
    CLOUD_SLOW = "cloud_slow"  # device load < 0.6 and cloud latency > 150 ms
    DEVICE_OVERLOADED = "device_overloaded"  # CPU or memory out of its healthy band
    EDGE_FASTER = "edge_faster"
    CLOUD_FASTER = "cloud_faster"
    HOLD = "hold"  # the other side is better, but not by the hysteresis margin
    EXPLORE = "explore"  # a stale measurement of the unused side: one request to refresh it
    CONFIDENT = "confident"  # cascade: the light model is sure enough
    UNCERTAIN = "uncertain"  # cascade: confidence in the uncertain band -> full model


@dataclass(frozen=True, slots=True)
class Signals:
    """What the policy sees for one request. Times in ms; loads and battery 0..1."""

    cpu: float = 0.0
    mem: float = 0.0
    queue_wait_ms: float = 0.0  # EWMA of time spent queued before the worker took it
    local_ms: float | None = None  # EWMA of local inference time (None: not measured yet)
    cloud_ms: float | None = None  # expected offload cost: hub's Server-Timing + floor RTT
    rtt_ms: float | None = None  # link RTT (floor of probes and calls minus server time)
    cloud_available: bool = False  # circuit breaker closed or half-open trial allowed
    battery: float | None = None  # None: mains powered
    voice: bool = False  # a voice pipeline (wake word / VAD)
    cloud_stale: bool = False  # no offload call measured recently
    local_stale: bool = False  # no local inference measured recently

    @property
    def load(self) -> float:
        """Device load, 0..1: the busier of CPU and memory."""
        return max(self.cpu, self.mem)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every number of the policy; `offload:` in the agent config overrides them."""

    local_load_max: float = 0.6  # below it, and with a slow cloud, stay local
    cloud_slow_ms: float = 150.0
    cpu_healthy: float = 0.70
    mem_healthy: float = 0.65
    rtt_healthy_ms: float = 50.0
    voice_rtt_max_ms: float = 100.0
    battery_min: float = 0.20
    full_model_load_max: float = 0.5
    hysteresis: float = 0.1  # load bands widen by this much once a side is chosen
    margin: float = 0.2  # the other side must be this much faster (relative) to switch
    margin_ms: float = 2.0  # ... and at least this many ms faster
    uncertain_low: float = 0.0  # cascade band (inclusive): light answers in it go to the cloud
    uncertain_high: float = 0.75


@dataclass(frozen=True, slots=True)
class Decision:
    where: Where
    reason: Reason

    @property
    def counter(self) -> str:
        return f"offload.{self.where.value}.{self.reason.value}"


def load_score(s: Signals, rtt_ms: float | None = None) -> float:
    """The brief's score for choosing an execution node: 0.4·CPU + 0.3·mem + 0.3·RTT/100 ms."""
    rtt = s.rtt_ms if rtt_ms is None else rtt_ms
    return 0.4 * s.cpu + 0.3 * s.mem + 0.3 * ((rtt or 0.0) / 100.0)


def edge_cost_ms(s: Signals) -> float:
    """Expected time to an answer on the device: queueing plus inference."""
    return s.queue_wait_ms + (s.local_ms or 0.0)


def cloud_cost_ms(s: Signals) -> float | None:
    """Expected time to an answer from the hub: measured calls, else probe RTT + local time."""
    if s.cloud_ms is not None:
        return s.cloud_ms
    if s.rtt_ms is not None:
        return s.rtt_ms + (s.local_ms or 0.0)
    return None


def _edge(reason: Reason) -> Decision:
    return Decision(Where.EDGE, reason)


def _cloud(reason: Reason) -> Decision:
    return Decision(Where.CLOUD, reason)


def _blocked(s: Signals, t: Thresholds) -> Decision | None:
    """Rules that keep a request on the device whatever the mode asks for."""
    if not s.cloud_available:
        return _edge(Reason.CLOUD_DOWN)
    if s.battery is not None and s.battery <= t.battery_min:
        return _edge(Reason.BATTERY_LOW)
    return None


def adaptive(s: Signals, t: Thresholds, previous: Where | None = None) -> Decision:
    """Edge or cloud for one request; `previous` (the last decision) adds hysteresis."""
    blocked = _blocked(s, t)
    if blocked is not None:
        return blocked
    cloud = cloud_cost_ms(s)
    if s.voice and (s.rtt_ms is None or s.rtt_ms >= t.voice_rtt_max_ms):
        return _edge(Reason.VOICE_RTT)
    band = t.hysteresis if previous is Where.EDGE else 0.0
    if s.load < t.local_load_max + band and cloud is not None and cloud > t.cloud_slow_ms:
        return _edge(Reason.CLOUD_SLOW)
    band = -t.hysteresis if previous is Where.CLOUD else 0.0
    overloaded = s.cpu >= t.cpu_healthy + band or s.mem >= t.mem_healthy + band
    edge = edge_cost_ms(s)
    if cloud is None:  # never measured: only a device out of its bands tries the cloud
        return _cloud(Reason.DEVICE_OVERLOADED) if overloaded else _edge(Reason.EDGE_FASTER)
    if overloaded and (cloud <= t.cloud_slow_ms or cloud <= edge * (1 + t.margin)):
        return _cloud(Reason.DEVICE_OVERLOADED)  # shed load while the cloud is acceptable
    if overloaded and s.cloud_stale:
        return _cloud(Reason.EXPLORE)
    if not overloaded and s.local_stale and previous is Where.CLOUD:
        return _edge(Reason.EXPLORE)  # the edge's numbers date from a busier time: re-measure
    return _faster(edge, cloud, t, previous)


def _faster(edge: float, cloud: float, t: Thresholds, previous: Where | None) -> Decision:
    """Compare expected latencies; switching sides needs a clear margin."""
    best = Where.EDGE if edge <= cloud else Where.CLOUD
    reason = Reason.EDGE_FASTER if best is Where.EDGE else Reason.CLOUD_FASTER
    if previous is None or previous is best:
        return Decision(best, reason)
    kept, other = (cloud, edge) if previous is Where.CLOUD else (edge, cloud)
    clear = kept - other >= max(t.margin * other, t.margin_ms)
    return Decision(best, reason) if clear else Decision(previous, Reason.HOLD)


def decide(mode: Mode, s: Signals, t: Thresholds, previous: Where | None = None) -> Decision:
    """Where to run a request *before* it runs (cascade runs on the edge first)."""
    if mode is Mode.EDGE or mode is Mode.CASCADE:
        return _edge(Reason.MODE_EDGE)
    if mode is Mode.CLOUD:
        return _blocked(s, t) or _cloud(Reason.MODE_CLOUD)
    return adaptive(s, t, previous)


def second_opinion(confidence: float, s: Signals, t: Thresholds) -> Decision:
    """Cascade, after the light model answered: ask the full model when unsure."""
    if not t.uncertain_low <= confidence <= t.uncertain_high:
        return _edge(Reason.CONFIDENT)
    return _blocked(s, t) or _cloud(Reason.UNCERTAIN)


def want_full_model(load: float, high_priority: bool, t: Thresholds) -> bool:
    """On-demand loading: the full model locally only on an idle device for high priority."""
    return high_priority and load < t.full_model_load_max


def confidence_of(output: object) -> float | None:
    """The light model's confidence in its answer: best face score (0 with no face), wake-word
    probability; None for outputs without one. Accepts an output model or its JSON dict."""
    data = output if isinstance(output, dict) else getattr(output, "__dict__", {})
    faces = data.get("faces")
    if isinstance(faces, list | tuple):
        scores = [f["score"] if isinstance(f, dict) else f.score for f in faces]
        return float(max(scores, default=0.0))
    probability = data.get("probability")
    return float(probability) if isinstance(probability, int | float) else None
