"""`broker.acl`: rights derived from the topic table, checked with tables of cases."""

import pytest

from broker.acl import (
    ANONYMOUS,
    Account,
    AccountKind,
    Action,
    covers,
    decide,
    rights_for,
    valid_filter,
)

P, S, R = Action.PUBLISH, Action.SUBSCRIBE, Action.RECEIVE
CAM = Account(AccountKind.DEVICE, "cam-1", read=("sensors/door/+",))
HUB = Account(AccountKind.HUB, "hub")
ACME = Account(AccountKind.INTEGRATOR, "acme")
NARROW = Account(AccountKind.INTEGRATOR, "narrow", publish=(), read=("edgefleet/v1/cam-1/event/+",))
V1 = "edgefleet/v1"


@pytest.mark.parametrize(
    ("grant", "requested", "expected"),
    [
        ("a/b", "a/b", True), ("a/b", "a/c", False), ("a/+", "a/b", True), ("a/+", "a/+", True),
        ("a/+", "a/#", False), ("a/+", "a/b/c", False), ("a/#", "a", True), ("a/#", "a/b/c", True),
        ("a/#", "a/+/#", True), ("a/b/#", "a/+/#", False), ("+/b", "a/b", True),
        ("a/b", "a/+", False), ("#", "$SYS/x", False), ("+/x", "$SYS/x", False),
        ("a", "a/b", False),
    ],
)  # fmt: skip
def test_covers(grant: str, requested: str, expected: bool) -> None:
    assert covers(grant, requested) is expected


@pytest.mark.parametrize(
    ("topic_filter", "ok"),
    [("a/#", True), ("a/+/b", True), ("#", True), ("a/#/b", False), ("a/b+", False),
     ("a#", False), ("", False)],
)  # fmt: skip
def test_valid_filter(topic_filter: str, ok: bool) -> None:
    assert valid_filter(topic_filter) is ok


@pytest.mark.parametrize(
    ("account", "action", "topic", "allowed"),
    [
        # a device publishes only its own DEVICE-publisher kinds
        (CAM, P, f"{V1}/cam-1/status", True),
        (CAM, P, f"{V1}/cam-1/health", True),
        (CAM, P, f"{V1}/cam-1/result/face/r1", True),
        (CAM, P, f"{V1}/cam-1/result/face", True),
        (CAM, P, f"{V1}/cam-1/event/face", True),
        (CAM, P, f"{V1}/cam-1/error", True),
        (CAM, P, f"{V1}/cam-1/cmd/reload/reply", True),
        (CAM, P, f"{V1}/cam-1/twin/reported", True),
        (CAM, P, f"{V1}/cam-1/cmd/reload", False),  # hub -> device
        (CAM, P, f"{V1}/cam-1/twin/desired", False),
        (CAM, P, f"{V1}/cam-1/infer/face", False),  # anyone -> device, not the device itself
        (CAM, P, f"{V1}/cam-2/status", False),
        (CAM, P, f"{V1}/cam-2/result/face/r1", False),
        (CAM, P, f"{V1}/cam-1/status/extra", False),
        (CAM, P, f"{V1}/+/status", False),  # wildcards are never topics
        (CAM, P, "other/topic", False),
        # a device subscribes only inside its own cmd/twin-desired/infer and its sensors
        (CAM, S, f"{V1}/cam-1/cmd/+", True),
        (CAM, S, f"{V1}/cam-1/cmd/reload", True),
        (CAM, S, f"{V1}/cam-1/twin/desired", True),
        (CAM, S, f"{V1}/cam-1/infer/#", True),
        (CAM, S, f"{V1}/cam-1/infer/+/#", True),
        (CAM, S, f"{V1}/cam-1/infer/face", True),
        (CAM, S, "sensors/door/+", True),
        (CAM, S, "sensors/door/front", True),
        (CAM, S, "sensors/#", False),
        (CAM, S, f"{V1}/cam-1/cmd/#", False),  # cmd/+/reply belongs to the hub
        (CAM, S, f"{V1}/cam-1/#", False),
        (CAM, S, f"{V1}/+/cmd/#", False),
        (CAM, S, f"{V1}/+/cmd/+", False),
        (CAM, S, f"{V1}/cam-2/cmd/+", False),
        (CAM, S, f"{V1}/cam-1/status", False),
        (CAM, S, "#", False),
        (CAM, S, "+/+/cam-1/cmd/+", False),
        (CAM, S, "$SYS/#", False),
        (CAM, R, f"{V1}/cam-1/cmd/reload", True),
        (CAM, R, f"{V1}/cam-2/cmd/reload", False),
        # the hub: everything under the prefix, nothing outside
        (HUB, P, f"{V1}/cam-1/cmd/reload", True),
        (HUB, S, f"{V1}/#", True),
        (HUB, R, f"{V1}/cam-9/health", True),
        (HUB, S, "#", False),
        (HUB, P, "elsewhere", False),
        # integrators by default: publish infer, read status/result/event/error
        (ACME, P, f"{V1}/cam-1/infer/face/r1", True),
        (ACME, P, f"{V1}/cam-1/cmd/reload", False),
        (ACME, P, f"{V1}/cam-1/result/face", False),
        (ACME, S, f"{V1}/#", True),  # wide subscriptions, filtered on delivery
        (ACME, S, "#", False),
        (ACME, R, f"{V1}/cam-1/status", True),
        (ACME, R, f"{V1}/cam-1/result/face/r1", True),
        (ACME, R, f"{V1}/cam-1/event/face", True),
        (ACME, R, f"{V1}/cam-1/error", True),
        (ACME, R, f"{V1}/cam-1/health", False),
        (ACME, R, f"{V1}/cam-1/cmd/reload", False),
        (ACME, R, f"{V1}/cam-1/twin/desired", False),
        (NARROW, P, f"{V1}/cam-1/infer/face", False),
        (NARROW, R, f"{V1}/cam-1/event/face", True),
        (NARROW, R, f"{V1}/cam-2/event/face", False),
    ],
)
def test_decide(account: Account, action: Action, topic: str, allowed: bool) -> None:
    assert decide(rights_for(account), action, topic) is allowed


@pytest.mark.parametrize(
    ("action", "topic", "in_demo"),
    [
        (P, f"{V1}/cam-1/infer/face", True),
        (P, f"{V1}/cam-1/status", False),
        (P, f"{V1}/cam-1/cmd/reload", False),
        (S, f"{V1}/#", True),
        (R, f"{V1}/cam-1/status", True),
        (R, f"{V1}/cam-1/infer/face/r1", True),
        (R, f"{V1}/cam-1/result/face/r1", True),
        (R, f"{V1}/cam-1/event/face", True),
        (R, f"{V1}/cam-1/error", True),
        (R, f"{V1}/cam-1/health", False),
        (R, f"{V1}/cam-1/cmd/reload", False),
        (R, f"{V1}/cam-1/twin/desired", False),
    ],
)
def test_anonymous_only_public_topics_and_only_in_demo(
    action: Action, topic: str, in_demo: bool
) -> None:
    assert decide(rights_for(ANONYMOUS, demo=True), action, topic) is in_demo
    assert decide(rights_for(ANONYMOUS, demo=False), action, topic) is False


def test_prefix_is_configurable() -> None:
    rights = rights_for(Account(AccountKind.DEVICE, "d1"), prefix="acme/mqtt/")
    assert decide(rights, P, "acme/mqtt/d1/status")
    assert not decide(rights, P, f"{V1}/d1/status")


HA = "homeassistant"


@pytest.mark.parametrize(
    ("account", "action", "topic", "allowed"),
    [
        (CAM, P, f"{HA}/device/edgefleet_cam-1/config", True),
        (CAM, P, f"{HA}/device/edgefleet_cam-2/config", False),  # not another device's
        (CAM, P, f"{HA}/device/cam-1/config", False),  # only under its edgefleet_ node id
        (CAM, P, f"{HA}/sensor/edgefleet_cam-1/x/config", False),  # device-based only
        (CAM, P, f"{HA}/status", False),  # may not fake Home Assistant's birth
        (CAM, S, f"{HA}/status", True),
        (CAM, R, f"{HA}/status", True),
        (CAM, S, f"{HA}/#", False),
        (CAM, R, f"{HA}/device/edgefleet_cam-2/config", False),
        (HUB, P, f"{HA}/device/edgefleet_cam-1/config", True),
        (HUB, P, f"{HA}/device/other/config", True),
        (HUB, S, f"{HA}/device/+/config", True),
        (HUB, R, f"{HA}/device/edgefleet_cam-1/config", True),
        (HUB, S, f"{HA}/#", False),
        (HUB, P, f"{HA}/status", False),
        (HUB, P, f"{HA}/sensor/x/config", False),
        (ACME, P, f"{HA}/device/edgefleet_cam-1/config", False),
    ],
)
def test_home_assistant_discovery_rights(
    account: Account, action: Action, topic: str, allowed: bool
) -> None:
    assert decide(rights_for(account), action, topic) is allowed


def test_home_assistant_prefix_is_configurable_and_can_be_off() -> None:
    custom = rights_for(CAM, ha_prefix="ha-test")
    assert decide(custom, P, "ha-test/device/edgefleet_cam-1/config")
    assert not decide(custom, P, f"{HA}/device/edgefleet_cam-1/config")
    off = rights_for(CAM, ha_prefix=None)
    assert not any(t.startswith(HA) for t in (*off.publish, *off.read, *off.subscribe))
    assert not decide(rights_for(HUB, ha_prefix=None), P, f"{HA}/device/edgefleet_cam-1/config")
