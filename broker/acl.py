"""Broker access control derived from the topic table: who may publish, subscribe and receive.

Pure functions, no broker imports: the amqtt ACL plugin asks `decide()` per packet and the
Mosquitto dynamic-security roles are generated from the same `rights_for()` (broker/dynsec.py).

Every right is a list of MQTT filters:

- `publish`: concrete topics the account may publish to (a topic must match one filter);
- `read`: topics delivered to it (checked per message, like Mosquitto's `publishClientReceive`);
- `subscribe`: filters its subscriptions must fall *within* (every topic the requested filter
  could match is matched by one of these), so `edgefleet/v1/+/cmd/#` or `#` is refused to a
  device whose scope is `edgefleet/v1/<its id>/cmd/+`.

Home Assistant discovery (docs/home-assistant.md) lives outside the prefix, under the HA
discovery prefix (`homeassistant` unless configured): a device may publish only its own
device-based discovery config `<ha>/device/edgefleet_<d>/config` and read HA's birth
`<ha>/status`; the hub may read and publish (clear) every `<ha>/device/+/config`.

Site gateways (contract/peers.py): a device account may carry `peers`, the gateways of its
site it may offload to, and `clients`, the devices of its site it serves as a gateway (both as
the hub's registry says, never as the device says). A device may publish to each peer's
`infer` topics and read (and subscribe to) each peer's `status` and `health`, to know whether
it is alive and how loaded; a gateway may publish to each client's `reply/{rid}`, the MQTT 5
response topic of a request. Nothing else of another device's: no `cmd`, `twin`, `result`.
Every filter comes from the topic table, like a device's own.

Devices subscribe strictly inside what they may read. Integrators and demo-anonymous clients
may subscribe to any filter under the prefix (so `mosquitto_sub -t 'edgefleet/v1/#'` works) and
receive only what `read` allows; both brokers then filter each message on delivery.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from contract.homeassistant import (
    DEFAULT_HA_PREFIX,
    ha_discovery_filter,
    ha_discovery_topic,
    ha_status_topic,
)
from contract.topics import DEFAULT_PREFIX, SPEC_BY_KIND, TOPIC_SPECS, Kind, Role, TopicSpec


class Action(StrEnum):
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    RECEIVE = "receive"


class AccountKind(StrEnum):
    DEVICE = "device"
    HUB = "hub"
    INTEGRATOR = "integrator"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Account:
    """Who a connected client is, as a credential source established it."""

    kind: AccountKind
    name: str
    """Device id for devices, user name otherwise (`anonymous` for anonymous clients)."""
    publish: tuple[str, ...] | None = None
    """Integrators: filters they may publish to (None: the table's ANYONE publisher topics)."""
    read: tuple[str, ...] | None = None
    """Integrators: filters they may read (None: the table's ANYONE subscriber topics).
    Devices: extra third-party sensor filters, outside the prefix, their config names."""
    peers: tuple[str, ...] = ()
    """Devices: the gateways of its site it may offload to (the hub's registry decides)."""
    clients: tuple[str, ...] = ()
    """Devices that are gateways: the devices of their site they answer (`reply/{rid}`)."""


ANONYMOUS = Account(AccountKind.ANONYMOUS, "anonymous")


@dataclass(frozen=True)
class Rights:
    publish: tuple[str, ...]
    read: tuple[str, ...]
    subscribe: tuple[str, ...]


NO_RIGHTS = Rights((), (), ())


def grant_filter(spec: TopicSpec, prefix: str, device: str) -> str:
    """The filter granting one row of the table; `infer/+/#` widens to `infer/#` (same topics
    once the bare `infer` level, which is no topic, is ignored) so `infer/#` subscribes work."""
    topic_filter = spec.filter(prefix, device)
    return (
        topic_filter.removesuffix("/+/#") + "/#" if topic_filter.endswith("/+/#") else topic_filter
    )


def _filters(prefix: str, device: str, specs: Iterable[TopicSpec]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(grant_filter(spec, prefix, device) for spec in specs))


def default_integrator_rights(prefix: str = DEFAULT_PREFIX) -> tuple[tuple[str, ...], ...]:
    """(publish, read) of an integrator without configured rights: the table's ANYONE role."""
    publish = _filters(prefix, "+", (s for s in TOPIC_SPECS if s.publisher is Role.ANYONE))
    read = _filters(prefix, "+", (s for s in TOPIC_SPECS if s.subscriber is Role.ANYONE))
    return publish, read


def rights_for(
    account: Account,
    *,
    prefix: str = DEFAULT_PREFIX,
    demo: bool = False,
    ha_prefix: str | None = DEFAULT_HA_PREFIX,
) -> Rights:
    """What `account` may do. Anonymous clients get the public topics in demo mode, else nothing.

    `ha_prefix` (None: no Home Assistant rights) adds the discovery topics of devices and hub.
    """
    prefix = prefix.rstrip("/")
    everything = (f"{prefix}/#",)
    match account.kind:
        case AccountKind.HUB:
            ha = (ha_discovery_filter(ha_prefix),) if ha_prefix else ()
            return Rights((*everything, *ha), (*everything, *ha), (*everything, *ha))
        case AccountKind.DEVICE:
            d = account.name
            publish = _filters(prefix, d, (s for s in TOPIC_SPECS if s.publisher is Role.DEVICE))
            own = _filters(prefix, d, (s for s in TOPIC_SPECS if s.subscriber is Role.DEVICE))
            if ha_prefix:
                publish = (*publish, ha_discovery_topic(ha_prefix, d))
                own = (*own, ha_status_topic(ha_prefix))
            peers = [p for p in dict.fromkeys(account.peers) if p != d]
            clients = [c for c in dict.fromkeys(account.clients) if c != d]
            publish = (
                *publish,
                *(grant_filter(SPEC_BY_KIND[Kind.INFER], prefix, p) for p in peers),
                *(grant_filter(SPEC_BY_KIND[Kind.REPLY], prefix, c) for c in clients),
            )
            watch = (SPEC_BY_KIND[Kind.STATUS], SPEC_BY_KIND[Kind.HEALTH])
            peer_read = (grant_filter(spec, prefix, p) for p in peers for spec in watch)
            read = (*own, *(account.read or ()), *peer_read)
            return Rights(publish, read, read)
        case AccountKind.INTEGRATOR:
            default_publish, default_read = default_integrator_rights(prefix)
            publish = default_publish if account.publish is None else account.publish
            read = default_read if account.read is None else account.read
            return Rights(publish, read, (*everything, *read))
        case AccountKind.ANONYMOUS if demo:
            public = [s for s in TOPIC_SPECS if s.public]
            publish = _filters(prefix, "+", (s for s in public if s.publisher is Role.ANYONE))
            return Rights(publish, _filters(prefix, "+", public), everything)
    return NO_RIGHTS


def decide(rights: Rights, action: Action, topic: str) -> bool:
    """Allow (True) or deny `action` on `topic` (a topic, or a filter for SUBSCRIBE)."""
    if action is Action.SUBSCRIBE:
        return valid_filter(topic) and any(covers(g, topic) for g in rights.subscribe)
    if not valid_topic(topic):
        return False
    grants = rights.publish if action is Action.PUBLISH else rights.read
    return any(covers(g, topic) for g in grants)


def valid_topic(topic: str) -> bool:
    return bool(topic) and "+" not in topic and "#" not in topic and "\0" not in topic


def valid_filter(topic_filter: str) -> bool:
    """MQTT 3.1.1 §4.7: `#` only as the last whole level, `+` only as a whole level."""
    if not topic_filter or "\0" in topic_filter:
        return False
    levels = topic_filter.split("/")
    return all(
        ("#" not in level or (level == "#" and i == len(levels) - 1))
        and ("+" not in level or level == "+")
        for i, level in enumerate(levels)
    )


def covers(grant: str, requested: str) -> bool:
    """True when every topic matched by `requested` (a topic or filter) is matched by `grant`.

    A topic starting with `$` is never matched by a leading wildcard (MQTT 3.1.1 §4.7.2).
    """
    g_levels, r_levels = grant.split("/"), requested.split("/")
    if requested.startswith("$") and grant[:1] in ("+", "#"):
        return False
    for i, g in enumerate(g_levels):
        if g == "#":
            return True
        if i == len(r_levels):
            return False
        r = r_levels[i]
        if r == "#" or (g != "+" and (r == "+" or r != g)):
            return False
    return len(r_levels) == len(g_levels)


def overlaps(a: str, b: str) -> bool:
    """True when some topic is matched by both filters `a` and `b`."""
    a_levels, b_levels = a.split("/"), b.split("/")
    for x, y in zip(a_levels, b_levels, strict=False):
        if "#" in (x, y):
            return True
        if x != y and "+" not in (x, y):
            return False
    if len(a_levels) == len(b_levels):
        return True
    longer = a_levels if len(a_levels) > len(b_levels) else b_levels
    return longer[min(len(a_levels), len(b_levels))] == "#"  # `a/#` also matches `a`


def sensor_read_filters(
    filters: Iterable[object], *, prefix: str = DEFAULT_PREFIX, ha_prefix: str | None = None
) -> tuple[str, ...]:
    """A device's extra read rights: its third-party sensor filters, as an admin set them.

    Only valid filters that cannot match anything under the contract prefix (or the Home
    Assistant prefix) are kept, so a sensor filter can never widen a device's rights into
    another device's namespace.
    """
    guarded = [f"{prefix.rstrip('/')}/#", *([f"{ha_prefix.rstrip('/')}/#"] if ha_prefix else [])]
    return tuple(
        f
        for f in filters
        if isinstance(f, str) and valid_filter(f) and not any(overlaps(f, g) for g in guarded)
    )
