"""Which remote an offloaded request goes to: a site gateway or the hub, by the weighted score
of `offload.best_remote` (docs/offload.md "Site gateways"). The dispatcher then weighs the
winner against the edge with the adaptive rules, as it always weighed the hub."""

from collections.abc import Mapping
from dataclasses import dataclass, replace

from edge_agent.offload import CLOUD_TARGET, Remote, Weights, best_remote
from edge_agent.peers import Peers, PeerState


@dataclass(frozen=True, slots=True)
class Target:
    """A remote a request may go to: `remote` as scored, the model to ask for there, and the
    gateway (None: the hub)."""

    remote: Remote
    model: str
    peer: PeerState | None = None


@dataclass(frozen=True, slots=True)
class Asking:
    """One request's side of the choice: its model, the plan's full (cloud) model, what the
    edge is expected to take, and what the hub took lately (None: not measured)."""

    model: str
    cloud_model: str
    edge_ms: float | None
    cloud_ms: float | None
    second_opinion: bool = False  # cascade: only the full model is worth asking


def _guess(peer: PeerState, asked: str, edge_ms: float | None) -> float | None:
    """A gateway not measured from here yet: the time it reports for the model, else what the
    edge takes (a starved device then tries it, which is when it matters)."""
    reported = peer.health.latency_ms.get(asked) if peer.health is not None else None
    return reported if reported is not None else edge_ms


def best_target(
    a: Asking,
    peers: Peers | None,
    cloud_available: bool,
    weights: Weights,
    quality: Mapping[str, float],
) -> Target | None:
    """The best remote for one request: a gateway offering the full model (or, except for a
    second opinion, the model itself), or the hub; None when none is available."""
    options: list[Target] = []
    if peers is not None:
        wanted = (a.cloud_model,) if a.second_opinion else (a.cloud_model, a.model)
        for asked in dict.fromkeys(wanted):
            for peer, remote in peers.remotes(asked):
                if all(peer is not o.peer for o in options):
                    guess = remote.expected_ms or _guess(peer, asked, a.edge_ms)
                    options.append(Target(replace(remote, expected_ms=guess), asked, peer))
    if cloud_available:
        hub = Remote(CLOUD_TARGET, a.cloud_ms, 0.0, quality.get(a.cloud_model, 1.0))
        options.append(Target(hub, a.cloud_model))
    best = best_remote([o.remote for o in options], weights)
    return next((o for o in options if o.remote is best), None)
