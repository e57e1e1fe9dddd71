"""The offload policy: a pure function from a snapshot of signals to a decision with a reason.

Nothing here does I/O or keeps state; the caller passes the previous decision in (hysteresis)
and counts the returned reason. Defaults follow the design brief's rules of thumb (docs/offload.md):

* run locally when device load < 0.6 and cloud latency > 150 ms;
* healthy bands CPU < 70 %, memory < 65 %, RTT < 50 ms (contract/health.py); load score
  0.4·CPU + 0.3·memory + 0.3·(RTT / 100 ms);
* voice goes to the cloud only when RTT < 100 ms and battery > 20 %;
* the full model is loaded when device load < 0.5 and priority is high.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from contract.health import CPU_HEALTHY_MAX, MEM_HEALTHY_MAX


class Mode(StrEnum):
    """Per-pipeline offload mode."""

    EDGE = "edge"  # always local
    CLOUD = "cloud"  # always the hub's full model (edge when the cloud is down)
    ADAPTIVE = "adaptive"  # per request, whichever is expected to answer sooner
    CASCADE = "cascade"  # local first; the cloud's full model for uncertain answers


class Where(StrEnum):
    EDGE = "edge"
    CLOUD = "cloud"  # offloaded: to the hub, or to a site gateway (`Remote.name`)


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
    EXPLORE = "explore"  # a side never measured: answer from the other, shadow-run it here
    CONFIDENT = "confident"  # cascade: the light model is sure enough
    UNCERTAIN = "uncertain"  # cascade: confidence in the uncertain band -> full model
    RESCUE = "rescue"  # cascade, wake words: the edge is silent but heard a word worth a check
    NOT_CONFIRMED = "not_confirmed"  # cascade, rescue: the cloud did not detect that word
    VERIFY = "verify"  # cascade, wake words: the edge fired; the cloud's verdict replaces it
    SPOT_CHECK = "spot_check"  # cascade: a confident answer sent at random (`spot_checks`)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the policy sees for one request. Times in ms; loads and battery 0..1.

    `edge_ms` and `cloud_ms` are measured alike, on the device, from the request's arrival to
    its answer being ready (`Dispatcher` keeps them): whatever slows the device (a starved CPU,
    a busy event loop) shows in both, so they can be compared."""

    cpu: float = 0.0
    mem: float = 0.0
    edge_ms: float | None = None  # expected time to a local answer, queue included (None: never)
    cloud_ms: float | None = None  # expected time to an answer through the hub (None: never)
    rtt_ms: float | None = None  # the link's floor RTT (light probes)
    cloud_available: bool = False  # circuit breaker closed or half-open trial allowed
    battery: float | None = None  # None: mains powered
    voice: bool = False  # a voice pipeline (wake word / VAD)
    edge_stale: bool = False  # no local answer measured recently
    cloud_stale: bool = False  # no answer through the hub measured recently
    edge_compute_ms: float | None = None  # the model's run alone: what shedding saves the device

    @property
    def load(self) -> float:
        """Device load, 0..1: the busier of CPU and memory."""
        return max(self.cpu, self.mem)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every number of the policy; `offload:` in the agent config overrides them."""

    local_load_max: float = 0.6  # below it, and with a slow cloud, stay local
    cloud_slow_ms: float = 150.0
    cpu_healthy: float = CPU_HEALTHY_MAX
    mem_healthy: float = MEM_HEALTHY_MAX
    voice_rtt_max_ms: float = 100.0
    battery_min: float = 0.20
    full_model_load_max: float = 0.5
    hysteresis: float = 0.1  # load bands widen by this much once a side is chosen
    margin: float = 0.2  # the other side must be this much faster (relative) to switch
    margin_ms: float = 2.0  # ... and at least this many ms faster
    shed_min_compute_ms: float = 2.0  # an overloaded device sheds only runs costing this much
    uncertain_low: float = 0.0  # cascade band (inclusive): light answers in it go to the cloud
    uncertain_high: float = 0.75


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a request runs and why; `shadow`: once it is answered, run a copy on the other side
    (answer discarded) because that side's measurement is missing or stale."""

    where: Where
    reason: Reason
    shadow: bool = False

    @property
    def counter(self) -> str:
        return f"offload.{self.where.value}.{self.reason.value}"


def load_score(s: Signals, rtt_ms: float | None = None) -> float:
    """The brief's score for choosing an execution node: 0.4·CPU + 0.3·mem + 0.3·RTT/100 ms."""
    rtt = s.rtt_ms if rtt_ms is None else rtt_ms
    return 0.4 * s.cpu + 0.3 * s.mem + 0.3 * ((rtt or 0.0) / 100.0)


EXPLORE_AFTER_S = 2.0
"""A side unused this long is measured again by a shadow copy of a request (answer discarded):
the edge, the hub, a gateway."""
EXPLORE_MAX_S = 16.0
"""... a remote far slower than the edge, only after up to this long."""


def needs_measuring(age_s: float, measured_ms: float | None, edge_ms: float | None) -> bool:
    """Whether a remote last measured `age_s` ago at `measured_ms` is due for a shadow copy:
    after 2 s, stretched by how much slower than the edge it was (up to 16 s). A copy costs the
    target's time and the bytes, and a target 300 ms behind a 5 ms edge is not about to win;
    one almost as fast is checked often. Never measured: due now."""
    if measured_ms is None:
        return True
    ratio = measured_ms / edge_ms if edge_ms else 1.0
    return age_s > min(EXPLORE_MAX_S, EXPLORE_AFTER_S * max(1.0, ratio))


CLOUD_TARGET = "cloud"
"""`Remote.name` of the hub; every other remote is a site gateway, named by its device id."""


@dataclass(frozen=True, slots=True)
class Remote:
    """A target a request can be offloaded to, as the scheduler sees it. `expected_ms`:
    arrival -> answer measured on this device (None: not measured yet); `load` 0..1 its
    reported CPU/memory/queue (the hub: 0, it scales out); `quality` 0..1 its model's."""

    name: str
    expected_ms: float | None
    load: float = 0.0
    quality: float = 1.0


@dataclass(frozen=True, slots=True)
class Weights:
    """The score's weights (`peers.weights`); docs/offload.md "Site gateways"."""

    latency: float = 0.5
    load: float = 0.3
    quality: float = 0.2


def remote_score(remote: Remote, fastest_ms: float, w: Weights) -> float:
    """Lower is better: latency relative to the fastest remote (1 for it; an unmeasured one
    counts as fastest, so a new gateway gets tried), its load and its model's shortfall."""
    expected = fastest_ms if remote.expected_ms is None else remote.expected_ms
    latency = expected / fastest_ms if fastest_ms > 0 else 1.0
    return w.latency * latency + w.load * remote.load + w.quality * (1.0 - remote.quality)


def best_remote(remotes: Sequence[Remote], w: Weights) -> Remote | None:
    """The available remote with the lowest score (ties: the first, i.e. gateways before the
    hub); None when there is none. The caller then weighs it against the edge (`adaptive`)."""
    measured = [r.expected_ms for r in remotes if r.expected_ms is not None]
    fastest = max(min(measured, default=1.0), 1e-3)
    return min(remotes, key=lambda r: remote_score(r, fastest, w), default=None)


def _edge(reason: Reason) -> Decision:
    return Decision(Where.EDGE, reason)


def _cloud(reason: Reason) -> Decision:
    return Decision(Where.CLOUD, reason)


def blocked(s: Signals, t: Thresholds) -> Decision | None:
    """The rules that keep any request on the device whatever the mode asks for (cloud down,
    battery low); the cascade's second opinion (`edge_agent.cascade`) obeys them too."""
    if not s.cloud_available:
        return _edge(Reason.CLOUD_DOWN)
    if s.battery is not None and s.battery <= t.battery_min:
        return _edge(Reason.BATTERY_LOW)
    return None


def adaptive(s: Signals, t: Thresholds, previous: Where | None = None) -> Decision:
    """Edge or cloud for one request; `previous` (the last decision) adds hysteresis.

    The rules of thumb in docs/offload.md decide when they apply (cloud down, battery, voice
    link, a lightly loaded device with a slow cloud); otherwise the side expected to answer
    sooner wins, and a device out of its healthy bands sheds load to the cloud whenever the
    cloud is no slower and the run it saves is worth the hop (`worth_shedding`). It does not
    shed at a latency cost: docs/benchmarks.md bounds
    adaptive's p99 by the better of edge-only and
    cloud-only, and a starved device pays for an offload call too (docs/offload.md)."""
    kept = blocked(s, t)
    if kept is not None:
        return kept
    if s.voice and (s.rtt_ms is None or s.rtt_ms >= t.voice_rtt_max_ms):
        return _edge(Reason.VOICE_RTT)
    edge, cloud = s.edge_ms, s.cloud_ms
    band = t.hysteresis if previous is Where.EDGE else 0.0
    if s.load < t.local_load_max + band and cloud is not None and cloud > t.cloud_slow_ms:
        return Decision(Where.EDGE, Reason.CLOUD_SLOW, shadow=s.cloud_stale)
    band = -t.hysteresis if previous is Where.CLOUD else 0.0
    overloaded = s.cpu >= t.cpu_healthy + band or s.mem >= t.mem_healthy + band
    if edge is None or cloud is None:  # a side never measured: measure it with a shadow copy
        to_edge = edge is not None or (cloud is None and not overloaded)
        where = Where.EDGE if to_edge else Where.CLOUD
        return Decision(where, Reason.EXPLORE, shadow=True)
    decision = _faster(edge, cloud, t, previous, overloaded and worth_shedding(s, t))
    stale = s.cloud_stale if decision.where is Where.EDGE else s.edge_stale
    return replace(decision, shadow=stale)


def worth_shedding(s: Signals, t: Thresholds) -> bool:
    """Whether running the request remotely saves an overloaded device enough CPU to prefer a
    remote that is only *as fast*: a remote answer crosses the starved device twice (request
    out, answer in), so for a model whose run costs less than `shed_min_compute_ms` (the 10 kB
    engine model: ~0.2 ms) shedding buys nothing and, at an equal mean, a heavier tail
    (docs/offload.md "Why an overloaded device does not shed at any price"). Unmeasured: yes."""
    return s.edge_compute_ms is None or s.edge_compute_ms >= t.shed_min_compute_ms


def _clearly(slower: float, faster: float, t: Thresholds) -> bool:
    """Whether `faster` beats `slower` by the switching margin (relative and absolute)."""
    return slower - faster >= max(t.margin * faster, t.margin_ms)


def _faster(
    edge: float, cloud: float, t: Thresholds, previous: Where | None, overloaded: bool
) -> Decision:
    """Compare expected latencies; switching sides needs a clear margin, except that an
    overloaded device moves to a cloud that is no slower (and stays until the edge is clearly
    faster)."""
    if overloaded:
        if cloud <= edge or (previous is Where.CLOUD and not _clearly(cloud, edge, t)):
            return _cloud(Reason.DEVICE_OVERLOADED)
        return _edge(Reason.EDGE_FASTER)
    best = Where.EDGE if edge <= cloud else Where.CLOUD
    reason = Reason.EDGE_FASTER if best is Where.EDGE else Reason.CLOUD_FASTER
    if previous is None or previous is best:
        return Decision(best, reason)
    kept, other = (cloud, edge) if previous is Where.CLOUD else (edge, cloud)
    return Decision(best, reason) if _clearly(kept, other, t) else Decision(previous, Reason.HOLD)


def decide(mode: Mode, s: Signals, t: Thresholds, previous: Where | None = None) -> Decision:
    """Where to run a request *before* it runs (cascade runs on the edge first)."""
    if mode is Mode.EDGE or mode is Mode.CASCADE:
        return _edge(Reason.MODE_EDGE)
    if mode is Mode.CLOUD:
        return blocked(s, t) or _cloud(Reason.MODE_CLOUD)
    return adaptive(s, t, previous)


def want_full_model(load: float, high_priority: bool, t: Thresholds) -> bool:
    """On-demand loading: the full model locally only on an idle device for high priority."""
    return high_priority and load < t.full_model_load_max
