"""The per-device order rule (go-back-N receiver) as a table: arrivals -> verdicts."""

import pytest

from cloud_hub.ingest.order import DeviceOrder, Verdict
from contract import ContractError, Delivery, InferResult, decode, encode, stamp

N, P, G = Verdict.NEXT, Verdict.PASSED, Verdict.GAP


def d(seq: int, since: int = 1, epoch: str = "e1") -> Delivery:
    return Delivery(epoch=epoch, seq=seq, since=since)


@pytest.mark.parametrize(
    ("arrivals", "verdicts"),
    [
        pytest.param([d(1), d(2), d(3)], [N, N, N], id="in order"),
        pytest.param([d(1), d(3), d(2), d(3)], [N, G, N, N], id="ahead waits for the resend"),
        pytest.param([d(1), d(2), d(1), d(2), d(3)], [N, N, P, P, N], id="duplicates passed"),
        pytest.param([d(4, since=4), d(5, since=4)], [N, N], id="first sight: oldest held"),
        pytest.param([d(5, since=4)], [G], id="first sight: not the oldest held"),
        pytest.param([d(1), d(6, since=6)], [N, N], id="since skips what the device dropped"),
        pytest.param(
            [d(1), d(2), d(2, since=2), d(3, since=2)],
            [N, N, P, N],
            id="since behind what was accepted changes nothing",
        ),
        pytest.param(
            [d(7), d(1, epoch="e2"), d(2, epoch="e2")],
            [G, N, N],
            id="a new epoch starts at its oldest",
        ),
    ],
)
def test_verdicts(arrivals: list[Delivery], verdicts: list[Verdict]) -> None:
    order = DeviceOrder()
    assert [order.check("dev", a) for a in arrivals] == verdicts


def test_devices_are_independent_and_unstamped_messages_unordered() -> None:
    order = DeviceOrder()
    assert order.check("a", d(1)) is N
    assert order.check("b", d(3, since=3)) is N
    assert order.check("a", d(3)) is G
    assert order.check("a", None) is Verdict.UNORDERED


def test_held_messages_come_out_in_turn_and_are_bounded() -> None:
    order: DeviceOrder[str] = DeviceOrder(held_per_device=2)
    assert order.check("dev", d(1)) is N
    for seq in (4, 3, 5):
        assert order.check("dev", d(seq)) is G
    assert [order.hold("dev", 4, "m4"), order.hold("dev", 3, "m3"), order.hold("dev", 5, "m5")] == [
        True,
        True,
        False,
    ]  # room for two: 5 is left to the device's resend
    assert order.release("dev") is None  # 2 is still missing
    assert order.check("dev", d(2)) is N
    assert order.release("dev") == "m3"
    assert order.check("dev", d(3)) is N
    assert order.release("dev") == "m4"
    assert order.check("dev", d(4)) is N
    assert order.release("dev") is None
    assert order.held() == 0


def test_the_held_count_follows_new_epochs_and_forgetting() -> None:
    order: DeviceOrder[str] = DeviceOrder()
    for device in ("a", "b"):
        assert order.check(device, d(3)) is G
        assert order.hold(device, 3, f"{device}3")
    assert order.held() == 2
    assert order.check("a", d(1, epoch="e2")) is N  # a new store: what was held is void
    assert order.held() == 1
    order.forget()
    assert order.held() == 0


def test_forgetting_restarts_at_the_oldest_held() -> None:
    """After a failed batch nothing of it was stored: the device's oldest must come first."""
    order = DeviceOrder()
    assert [order.check("dev", d(i)) for i in (1, 2, 3)] == [N, N, N]
    order.forget()
    assert order.check("dev", d(4, since=2)) is G
    assert order.check("dev", d(2, since=2)) is N


def test_stamp_round_trip_and_validation() -> None:
    result = InferResult(
        model="m", model_version="1", where="edge", latency_ms=1.0, output={}, msg_id="x"
    )
    stamped = stamp(encode(result), d(3, since=2))
    assert decode(InferResult, stamped).delivery == d(3, since=2)
    assert decode(InferResult, stamped).msg_id == "x"
    with pytest.raises(ValueError, match="since"):
        d(2, since=3)
    with pytest.raises(ValueError, match="JSON object"):
        stamp(b"[1]", d(1))
    with pytest.raises(ContractError, match="delivery"):
        decode(InferResult, encode(result)[:-1] + b',"delivery":{"epoch":"e","seq":0,"since":1}}')
