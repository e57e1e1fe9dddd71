"""The topic table: build/parse round-trips, rejected ids and topics, subscription filters."""

import pytest
from paho.mqtt.client import topic_matches_sub

from contract import TOPIC_SPECS, ContractError, Kind, ParsedTopic, Topics

T = Topics()

# (built topic, expected topic, expected parse)
ROUND_TRIPS = [
    (T.status("cam-1"), "edgefleet/v1/cam-1/status", ParsedTopic(Kind.STATUS, "cam-1")),
    (T.health("cam-1"), "edgefleet/v1/cam-1/health", ParsedTopic(Kind.HEALTH, "cam-1")),
    (T.infer("cam-1", "face-detect-lite"), "edgefleet/v1/cam-1/infer/face-detect-lite",
     ParsedTopic(Kind.INFER, "cam-1", model="face-detect-lite")),
    (T.infer("cam-1", "m", "req.1"), "edgefleet/v1/cam-1/infer/m/req.1",
     ParsedTopic(Kind.INFER, "cam-1", model="m", rid="req.1")),
    (T.result("cam-1", "m"), "edgefleet/v1/cam-1/result/m",
     ParsedTopic(Kind.RESULT, "cam-1", model="m")),
    (T.result("cam-1", "m", "r9"), "edgefleet/v1/cam-1/result/m/r9",
     ParsedTopic(Kind.RESULT, "cam-1", model="m", rid="r9")),
    (T.event("mic_2", "wakeword"), "edgefleet/v1/mic_2/event/wakeword",
     ParsedTopic(Kind.EVENT, "mic_2", name="wakeword")),
    (T.error("0"), "edgefleet/v1/0/error", ParsedTopic(Kind.ERROR, "0")),
    (T.cmd("cam-1", "reload"), "edgefleet/v1/cam-1/cmd/reload",
     ParsedTopic(Kind.CMD, "cam-1", name="reload")),
    (T.cmd_reply("cam-1", "reload"), "edgefleet/v1/cam-1/cmd/reload/reply",
     ParsedTopic(Kind.CMD_REPLY, "cam-1", name="reload")),
    (T.twin_desired("cam-1"), "edgefleet/v1/cam-1/twin/desired",
     ParsedTopic(Kind.TWIN_DESIRED, "cam-1")),
    (T.twin_reported("cam-1"), "edgefleet/v1/cam-1/twin/reported",
     ParsedTopic(Kind.TWIN_REPORTED, "cam-1")),
    (T.ack("cam-1"), "edgefleet/v1/cam-1/ack", ParsedTopic(Kind.ACK, "cam-1")),
    (T.snapshot("cam-1", "porch"), "edgefleet/v1/cam-1/snapshot/porch",
     ParsedTopic(Kind.SNAPSHOT, "cam-1", name="porch")),
    (T.reply("cam-1", "r9"), "edgefleet/v1/cam-1/reply/r9",
     ParsedTopic(Kind.REPLY, "cam-1", rid="r9")),
]  # fmt: skip


@pytest.mark.parametrize(("built", "expected", "parsed"), ROUND_TRIPS, ids=lambda v: str(v))
def test_build_and_parse_round_trip(built: str, expected: str, parsed: ParsedTopic) -> None:
    assert built == expected
    assert T.parse(built) == parsed


def test_every_kind_has_a_round_trip_case() -> None:
    assert {parsed.kind for _, _, parsed in ROUND_TRIPS} == set(Kind)


@pytest.mark.parametrize("prefix", ["site-a/edgefleet/v1", "fleet/", "x"])
def test_custom_prefix_round_trip(prefix: str) -> None:
    topics = Topics(prefix)
    topic = topics.result("d1", "m", "r")
    assert topic == f"{prefix.rstrip('/')}/d1/result/m/r"
    assert topics.parse(topic) == ParsedTopic(Kind.RESULT, "d1", model="m", rid="r")


@pytest.mark.parametrize(
    "device",
    ["", "Cam", "-cam", "_cam", "cam/1", "cam+", "cam#", "cam 1", "é", "a" * 65, "+", "#"],
)
def test_invalid_device_ids_rejected(device: str) -> None:
    with pytest.raises(ContractError, match="invalid device id"):
        T.status(device)
    with pytest.raises(ContractError):
        T.parse(f"edgefleet/v1/{device}/status")
    if device != "+":  # "+" is the all-devices wildcard in filters
        with pytest.raises(ContractError, match="invalid device id"):
            T.filter(Kind.STATUS, device=device)
        with pytest.raises(ContractError, match="invalid device id"):
            T.all(device)


def test_longest_device_id_accepted() -> None:
    assert T.parse(T.health("a" * 64)).device == "a" * 64


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (T.infer, ("d", "m/x")),
        (T.infer, ("d", "+")),
        (T.infer, ("d", "m", "r#")),
        (T.result, ("d", "")),
        (T.event, ("d", "face/x")),
        (T.cmd, ("d", ".hidden")),
        (T.cmd_reply, ("d", "a" * 129)),
    ],
)
def test_invalid_segments_rejected(build: object, args: tuple[str, ...]) -> None:
    with pytest.raises(ContractError, match="invalid"):
        build(*args)  # type: ignore[operator]


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "edgefleet/v1",
        "edgefleet/v1/cam-1",
        "edgefleet/v2/cam-1/status",
        "other/v1/cam-1/status",
        "edgefleet/v1/Cam/status",
        "edgefleet/v1//status",
        "edgefleet/v1/cam-1/status/extra",
        "edgefleet/v1/cam-1/infer",
        "edgefleet/v1/cam-1/infer/m/r/extra",
        "edgefleet/v1/cam-1/infer/+",
        "edgefleet/v1/cam-1/result/m/#",
        "edgefleet/v1/cam-1/event",
        "edgefleet/v1/cam-1/cmd",
        "edgefleet/v1/cam-1/cmd/x/ack",
        "edgefleet/v1/cam-1/twin",
        "edgefleet/v1/cam-1/twin/other",
        "edgefleet/v1/cam-1/unknown",
    ],
)
def test_non_contract_topics_rejected(topic: str) -> None:
    with pytest.raises(ContractError):
        T.parse(topic)


# (kind, device, topics the filter must match, topics it must not)
FILTER_CASES = [
    (Kind.INFER, "cam-1",
     ["edgefleet/v1/cam-1/infer/m", "edgefleet/v1/cam-1/infer/m/rid"],
     ["edgefleet/v1/cam-2/infer/m", "edgefleet/v1/cam-1/result/m"]),
    (Kind.INFER, "+",
     ["edgefleet/v1/cam-1/infer/m", "edgefleet/v1/cam-2/infer/m/rid"],
     ["edgefleet/v1/cam-1/result/m/rid"]),
    (Kind.RESULT, "+",
     ["edgefleet/v1/cam-1/result/m", "edgefleet/v1/cam-1/result/m/rid"],
     ["edgefleet/v1/cam-1/infer/m"]),
    (Kind.STATUS, "+", ["edgefleet/v1/cam-1/status"], ["edgefleet/v1/cam-1/health"]),
    (Kind.EVENT, "mic", ["edgefleet/v1/mic/event/wakeword"], ["edgefleet/v1/cam/event/face"]),
    (Kind.CMD, "cam-1", ["edgefleet/v1/cam-1/cmd/reload"], ["edgefleet/v1/cam-1/cmd/reload/reply"]),
    (Kind.CMD_REPLY, "+", ["edgefleet/v1/cam-1/cmd/reload/reply"], ["edgefleet/v1/cam-1/cmd/x"]),
    (Kind.TWIN_DESIRED, "cam-1", ["edgefleet/v1/cam-1/twin/desired"],
     ["edgefleet/v1/cam-1/twin/reported"]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "device", "matches", "misses"), FILTER_CASES)
def test_filters_match_with_mqtt_semantics(
    kind: Kind, device: str, matches: list[str], misses: list[str]
) -> None:
    topic_filter = T.filter(kind, device=device)
    for topic in matches:
        assert topic_matches_sub(topic_filter, topic), (topic_filter, topic)
        assert T.parse(topic).kind == kind
    for topic in misses:
        assert not topic_matches_sub(topic_filter, topic), (topic_filter, topic)


@pytest.mark.parametrize("spec", TOPIC_SPECS, ids=lambda s: str(s.kind))
def test_filter_of_every_kind_matches_the_topics_it_builds(spec: object) -> None:
    kind = spec.kind  # type: ignore[attr-defined]
    built = next(b for b, _, parsed in ROUND_TRIPS if parsed.kind == kind)
    device = T.parse(built).device
    assert topic_matches_sub(T.filter(kind), built)
    assert topic_matches_sub(T.filter(kind, device=device), built)
    assert topic_matches_sub(T.all(device), built)
    assert topic_matches_sub(T.all(), built)


def test_table_qos_and_retain_follow_the_spec() -> None:
    by_kind = {s.kind: (s.qos, s.retain) for s in TOPIC_SPECS}
    assert by_kind[Kind.STATUS] == (1, True)
    assert by_kind[Kind.TWIN_DESIRED] == by_kind[Kind.TWIN_REPORTED] == (1, True)
    assert by_kind[Kind.HEALTH] == (0, False)
    assert by_kind[Kind.SNAPSHOT] == (0, True)  # the latest picture; nothing waits in an outbox
    assert by_kind[Kind.ACK] == (0, False)  # a lost ack is asked for again by the resend
    special = {Kind.STATUS, Kind.HEALTH, Kind.TWIN_DESIRED, Kind.TWIN_REPORTED, Kind.SNAPSHOT}
    special.add(Kind.ACK)
    assert {by_kind[k] for k in set(Kind) - special} == {(1, False)}
