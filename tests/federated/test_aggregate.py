"""Aggregation maths as tables of cases (Prepare / Execute / Assert)."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cloud_hub.federated import aggregate
from cloud_hub.federated.strategy import ClientUpdate, make_strategy
from models.training import updates as wire

U = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [100.0, -100.0]])


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([1, 1, 1, 1], [26.5, -10.0]),
        ([1, 0, 0, 0], [1.0, 10.0]),
        ([1, 1, 2, 0], [2.25, 22.5]),
    ],
)
def test_fedavg_is_the_weighted_mean(weights: list[float], expected: list[float]) -> None:
    assert_allclose(aggregate.fedavg(U, np.array(weights, float)), expected)


def test_fedavg_refuses_zero_weights() -> None:
    with pytest.raises(ValueError, match="positive weight"):
        aggregate.fedavg(U, np.zeros(4))


@pytest.mark.parametrize(
    ("trim", "expected"),
    [(0.0, [26.5, -10.0]), (0.25, [2.5, 15.0]), (0.49, [2.5, 15.0])],
)
def test_trimmed_mean_drops_the_extremes_per_coordinate(trim: float, expected: list[float]) -> None:
    assert_allclose(aggregate.trimmed_mean(U, trim), expected)


def test_coordinate_median() -> None:
    assert_allclose(aggregate.coordinate_median(U), [2.5, 15.0])


@pytest.mark.parametrize(
    ("staleness", "alpha", "expected"),
    [(0, 0.5, 1.0), (3, 0.5, 0.5), (1, 1.0, 0.5), (8, 0.5, 1 / 3)],
)
def test_staleness_weight(staleness: int, alpha: float, expected: float) -> None:
    assert aggregate.staleness_weight(staleness, alpha) == pytest.approx(expected)


def test_norm_outliers_flag_only_the_far_one() -> None:
    norms = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 9.0])
    assert aggregate.norm_outliers(norms).tolist() == [False] * 5 + [True]


def test_dp_epsilon_falls_as_noise_rises() -> None:
    eps = [aggregate.gaussian_epsilon(z, 10, 1e-5) for z in (0.5, 1.0, 2.0, 4.0)]
    assert eps == sorted(eps, reverse=True)
    assert math.isinf(aggregate.gaussian_epsilon(0.0, 10, 1e-5))


def test_dp_mean_adds_noise_of_the_right_scale() -> None:
    rng = np.random.default_rng(0)
    out = aggregate.dp_mean(np.zeros(20_000), 10, clip=1.0, noise_multiplier=2.0, rng=rng)
    assert float(out.std()) == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize("values", [np.linspace(-1, 1, 101), np.zeros(7), np.array([3e-3, -5.0])])
def test_int8_round_trip_error_is_below_half_a_step(values: np.ndarray) -> None:
    q, scale = wire.quantize_int8(values.astype(np.float32))
    assert q.dtype == np.int8
    assert_allclose(wire.dequantize_int8(q, scale), values, atol=scale / 2 + 1e-7)


@pytest.mark.parametrize(("norm", "clip", "expected"), [(5.0, 1.0, 1.0), (0.5, 1.0, 0.5)])
def test_clip_l2(norm: float, clip: float, expected: float) -> None:
    v = np.array([0.6, 0.8]) * norm
    assert float(np.linalg.norm(wire.clip_l2(v, clip))) == pytest.approx(expected, rel=1e-6)


def test_pairwise_masks_cancel_in_the_sum_only() -> None:
    # Prepare: three clients, one shared secret per pair
    rng = np.random.default_rng(1)
    clients = ["a", "b", "c"]
    values = {c: rng.normal(0, 0.1, 50) for c in clients}
    secret = {
        frozenset(p): bytes([i]) * 32 for i, p in enumerate([("a", "b"), ("a", "c"), ("b", "c")])
    }
    # Execute
    masked = {
        c: wire.apply_masks(
            wire.to_fixed(values[c]),
            {p: wire.pair_mask(secret[frozenset((c, p))], 7, 50) for p in clients if p != c},
            c,
        )
        for c in clients
    }
    with np.errstate(over="ignore"):
        total = masked["a"] + masked["b"] + masked["c"]
    # Assert: the sum is exact, no single masked vector resembles its update
    assert_allclose(wire.from_fixed(total), sum(values.values()), atol=1e-6)
    for c in clients:
        assert np.abs(wire.from_fixed(masked[c]) - values[c]).min() > 1.0


def test_int8_steps_under_masks_add_up_to_the_weighted_sum() -> None:
    """Secure aggregation with int8: whole steps of one shared step, weighted by samples and
    masked in a 32-bit ring (4 bytes a value); the sum comes back within a step per value of
    the true weighted sum, values beyond the range are clipped to it, and the random rounding
    is unbiased (many roundings of one value average to it)."""
    rng = np.random.default_rng(2)
    clients, weight = ["a", "b", "c"], {"a": 300, "b": 120, "c": 500}
    values = {c: rng.normal(0, 0.05, 50) for c in clients}
    values["c"][0] = 3.0  # beyond the range: clipped to +0.25
    step = wire.int8_step(0.25)
    enc = wire.Encoding.MASKED32
    secret = {
        frozenset(p): bytes([i]) * 32 for i, p in enumerate([("a", "b"), ("a", "c"), ("b", "c")])
    }
    masked = {
        c: wire.apply_masks(
            wire.to_ring(values[c], weight[c], enc, step, np.random.default_rng(i)),
            {p: wire.pair_mask(secret[frozenset((c, p))], 7, 50, enc) for p in clients if p != c},
            c,
        )
        for i, c in enumerate(clients)
    }
    assert {m.dtype for m in masked.values()} == {np.dtype(np.uint32)}
    body = wire.encode_update(wire.WireUpdate(enc, 300, step, masked["a"]))
    assert len(body) == 20 + 4 * 50
    assert wire.decode_update(body, 50).scale == step
    with np.errstate(over="ignore"):
        total = masked["a"] + masked["b"] + masked["c"]
    clipped = {c: np.clip(v, -0.25, 0.25) for c, v in values.items()}
    expected = sum(clipped[c] * weight[c] for c in clients)
    got = wire.from_ring(total, enc, step)
    assert np.all(np.abs(got - expected) <= step * sum(weight.values()))
    assert got[0] == pytest.approx(expected[0], abs=step * sum(weight.values()))
    one = np.full(20_000, 0.3 * step)  # a third of a step: 0 or 1 step, 1 about 30 % of times
    rounded = wire.from_ring(wire.to_ring(one, 1, enc, step, rng), enc, step)
    assert set(np.unique(rounded / step).round()) == {0.0, 1.0}
    assert rounded.mean() == pytest.approx(0.3 * step, rel=0.05)


def test_pair_masks_are_a_shake_256_stream_per_pair_and_round() -> None:
    """Both peers derive the same mask; another round or another pair gets an unrelated one;
    the words are SHAKE-256 output (a cryptographic stream, docs/federated.md)."""
    import hashlib

    secret, other = bytes(range(32)), bytes(range(1, 33))
    mask = wire.pair_mask(secret, 7, 1000)
    assert mask.dtype == np.uint64
    assert np.array_equal(mask, wire.pair_mask(secret, 7, 1000))
    stream = hashlib.shake_256(b"edgefleet-secagg-v2" + (7).to_bytes(8, "big") + secret)
    assert mask.astype("<u8").tobytes() == stream.digest(8000)
    narrow = wire.pair_mask(secret, 7, 1000, wire.Encoding.MASKED32)
    assert narrow.dtype == np.uint32
    assert narrow.astype("<u4").tobytes() == stream.digest(4000)
    for unrelated in (wire.pair_mask(secret, 8, 1000), wire.pair_mask(other, 7, 1000)):
        assert np.count_nonzero(mask == unrelated) == 0
    high_bits = mask >> np.uint64(63)  # the top bit of each word: about half are set
    assert 400 < int(high_bits.sum()) < 600


def test_wire_format_round_trip_and_sizes() -> None:
    q, scale = wire.quantize_int8(np.ones(516, np.float32))
    int8 = wire.encode_update(wire.WireUpdate(wire.Encoding.INT8, 10, scale, q))
    fp32 = wire.encode_update(
        wire.WireUpdate(wire.Encoding.FP32, 10, 0.0, np.ones(516, np.float32))
    )
    assert len(int8) == 20 + 516
    assert len(fp32) == 20 + 4 * 516
    back = wire.decode_update(int8, 516)
    assert back.samples == 10
    assert_allclose(back.to_float(), np.ones(516), rtol=1e-6)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"xx", "malformed"),
        (b"NOPE" + bytes(16), "malformed"),
        (wire.HEADER.pack(wire.MAGIC, 1, 9, 0, 4, 1, 0.0) + bytes(16), "wrong_dtype"),
        (wire.HEADER.pack(wire.MAGIC, 1, 0, 0, 5, 1, 0.0) + bytes(20), "wrong_shape"),
        (wire.HEADER.pack(wire.MAGIC, 1, 0, 0, 4, 1, 0.0) + bytes(4), "wrong_dtype"),
    ],
)
def test_decode_refuses_bad_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(wire.UpdateFormatError) as info:
        wire.decode_update(body, 4)
    assert info.value.reason == reason


def test_strategies_against_a_poisoned_client() -> None:
    honest = [ClientUpdate(f"d{i}", np.full(3, 1.0 + 0.01 * i), 100) for i in range(8)]
    poisoned = [
        ClientUpdate("p1", np.full(3, -50.0), 100),
        ClientUpdate("p2", np.full(3, 80.0), 100),
    ]
    fedavg = make_strategy("fedavg").aggregate_train(honest + poisoned)
    trimmed = make_strategy("trimmed_mean", trim=0.2).aggregate_train(honest + poisoned)
    median = make_strategy("median").aggregate_train(honest + poisoned)
    assert abs(fedavg[0] - 1.0) > 1.0
    assert_allclose(trimmed, 1.035, atol=0.02)
    assert_allclose(median, 1.035, atol=0.02)


def test_configure_train_respects_fraction_and_minimum() -> None:
    strategy = make_strategy("fedavg")
    rng = np.random.default_rng(0)
    devices = [f"d{i:02d}" for i in range(20)]
    assert len(strategy.configure_train(devices, fraction=0.25, min_clients=2, rng=rng)) == 5
    assert len(strategy.configure_train(devices, fraction=0.01, min_clients=3, rng=rng)) == 3
    assert strategy.configure_train(devices[:2], fraction=1.0, min_clients=3, rng=rng) == [
        "d00",
        "d01",
    ]


def test_fedavg_with_staleness_discounts_the_late_update() -> None:
    fresh = ClientUpdate("a", np.array([1.0]), 100, staleness=0)
    stale = ClientUpdate("b", np.array([5.0]), 100, staleness=3)
    assert_allclose(make_strategy("fedavg").aggregate_train([fresh, stale]), [(1 + 2.5) / 1.5])


def test_epsilon_of_a_vanishing_noise_multiplier_is_infinite_not_an_error() -> None:
    """Found by the API fuzzer: `noise_multiplier` 1e-308 squared underflows to 0.0, and the
    round's privacy record divided by it (a 500 on POST /fl/rounds)."""
    from cloud_hub.federated.aggregate import gaussian_epsilon

    assert gaussian_epsilon(1e-308, 1, 1e-5) == float("inf")
    # ... and 1.8e308 squared overflows (it raised OverflowError: a 500, found the same way)
    assert 0 < gaussian_epsilon(1.7976931348623155e308, 1, 0.6) < float("inf")
    assert gaussian_epsilon(0.0, 1, 1e-5) == float("inf")
    assert 0 < gaussian_epsilon(1.0, 1, 1e-5) < float("inf")
