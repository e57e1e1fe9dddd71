"""Topic -> route: contract infer topics, commands, sensor filters, size and model checks."""

import pytest

from contract import ErrorCode, Topics
from edge_agent.config import SensorConfig
from edge_agent.errors import Rejected
from edge_agent.router import CommandRoute, InferRoute, Route, Router

T = Topics("edgefleet/v1")
D = "cam-01"
ROUTER = Router(
    T,
    D,
    ["face-detect-lite", "wakeword-lite"],
    [
        SensorConfig(topic="cameras/+/jpeg", model="face-detect-lite"),
        SensorConfig(topic="mics/#", model="wakeword-lite"),
    ],
    max_payload_bytes=1000,
)


@pytest.mark.parametrize(
    ("topic", "route"),
    [
        (
            "edgefleet/v1/cam-01/infer/face-detect-lite",
            InferRoute("face-detect-lite", None, "edgefleet/v1/cam-01/infer/face-detect-lite"),
        ),
        (
            "edgefleet/v1/cam-01/infer/wakeword-lite/r1",
            InferRoute("wakeword-lite", "r1", "edgefleet/v1/cam-01/infer/wakeword-lite/r1"),
        ),
        ("cameras/door/jpeg", InferRoute("face-detect-lite", None, "cameras/door/jpeg")),
        ("mics/kitchen/left", InferRoute("wakeword-lite", None, "mics/kitchen/left")),
        ("edgefleet/v1/cam-01/cmd/ping", CommandRoute("ping")),
        ("edgefleet/v1/cam-01/result/face-detect-lite/r1", None),
        ("edgefleet/v1/cam-01/error", None),
        ("edgefleet/v1/cam-01/status", None),
        ("edgefleet/v1/other/infer/face-detect-lite", None),
        ("cameras/door/png", None),
    ],
)
def test_routes(topic: str, route: Route) -> None:
    assert ROUTER.route(topic, 10) == route


@pytest.mark.parametrize(
    ("topic", "size", "code", "rid"),
    [
        ("edgefleet/v1/cam-01/infer/nope/r2", 10, ErrorCode.UNKNOWN_MODEL, "r2"),
        ("edgefleet/v1/cam-01/infer/face-detect-lite/r3", 1001, ErrorCode.TOO_LARGE, "r3"),
        ("cameras/door/jpeg", 5000, ErrorCode.TOO_LARGE, None),
        ("edgefleet/v1/cam-01/infer/face-detect-lite/a/b", 10, ErrorCode.BAD_TOPIC, None),
        ("edgefleet/v1/cam-01/infer/face detect", 10, ErrorCode.BAD_TOPIC, None),
        ("edgefleet/v1/cam-01/cmd/x/y/z", 10, ErrorCode.BAD_TOPIC, None),
    ],
)
def test_rejections(topic: str, size: int, code: ErrorCode, rid: str | None) -> None:
    with pytest.raises(Rejected) as info:
        ROUTER.route(topic, size)
    assert (info.value.code, info.value.rid) == (code, rid)


def test_size_limit_is_inclusive() -> None:
    assert ROUTER.route("cameras/door/jpeg", 1000) is not None
