"""Device sensor-topic rights: extra read filters can never reach into the contract prefix."""

import pytest

from broker.acl import overlaps, sensor_read_filters


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("sensors/door/jpeg", "sensors/door/jpeg", True),
        ("sensors/+/jpeg", "sensors/door/#", True),
        ("sensors/door", "sensors/door/#", True),  # `x/#` matches `x` itself
        ("sensors/door/jpeg", "sensors/hall/#", False),
        ("#", "edgefleet/v1/#", True),
        ("+/v1/d1/cmd/x", "edgefleet/v1/#", True),
        ("edgefleet/+", "edgefleet/v1/#", True),
        ("edgefleet", "edgefleet/v1/#", False),
        ("cameras/+/jpeg", "edgefleet/v1/#", False),
        ("a/b", "a/b/c", False),
    ],
)
def test_overlaps(a: str, b: str, expected: bool) -> None:
    assert overlaps(a, b) is expected
    assert overlaps(b, a) is expected


def test_sensor_filters_keep_third_party_topics_only() -> None:
    wanted = [
        "sensors/door-cam/jpeg",
        "cameras/+/jpeg",
        "edgefleet/v1/other-device/cmd/#",  # another device's namespace
        "#",
        "+/v1/#",
        "homeassistant/device/x/config",
        "bad/#/filter",
        42,
    ]
    kept = sensor_read_filters(wanted, prefix="edgefleet/v1", ha_prefix="homeassistant")
    assert kept == ("sensors/door-cam/jpeg", "cameras/+/jpeg")
