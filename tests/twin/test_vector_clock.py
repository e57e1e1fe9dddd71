"""Vector-clock maths: tables of cases."""

import pytest

from contract.vector_clock import Order, compare, concurrent, dominates, increment, merge


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ({}, {}, Order.EQUAL),
        ({"hub": 1}, {"hub": 1}, Order.EQUAL),
        ({"hub": 1, "cam": 0}, {"hub": 1}, Order.EQUAL),  # a missing entry is 0
        ({}, {"hub": 1}, Order.BEFORE),
        ({"hub": 1}, {"hub": 2}, Order.BEFORE),
        ({"hub": 2}, {"hub": 1}, Order.AFTER),
        ({"hub": 2, "cam": 1}, {"hub": 1, "cam": 1}, Order.AFTER),
        ({"hub": 1, "cam": 2}, {"hub": 2, "cam": 1}, Order.CONCURRENT),
        ({"cam": 1}, {"hub": 1}, Order.CONCURRENT),
        ({"hub": 3}, {"hub": 2, "cam": 1}, Order.CONCURRENT),
    ],
)
def test_compare(a: dict[str, int], b: dict[str, int], order: Order) -> None:
    assert compare(a, b) is order
    mirrored = {Order.BEFORE: Order.AFTER, Order.AFTER: Order.BEFORE}.get(order, order)
    assert compare(b, a) is mirrored
    assert concurrent(a, b) is (order is Order.CONCURRENT)
    assert dominates(a, b) is (order in (Order.EQUAL, Order.AFTER))


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ({}, {}, {}),
        ({"hub": 1}, {}, {"hub": 1}),
        ({"hub": 1, "cam": 3}, {"hub": 2, "cam": 1}, {"cam": 3, "hub": 2}),
        ({"a": 5}, {"b": 7}, {"a": 5, "b": 7}),
    ],
)
def test_merge_dominates_both(a: dict[str, int], b: dict[str, int], merged: dict[str, int]) -> None:
    out = merge(a, b)
    assert out == merged
    assert dominates(out, a)
    assert dominates(out, b)
    assert merge(b, a) == out


@pytest.mark.parametrize(
    ("a", "writer", "out"),
    [({}, "hub", {"hub": 1}), ({"hub": 1, "cam": 4}, "cam", {"hub": 1, "cam": 5})],
)
def test_increment_moves_after(a: dict[str, int], writer: str, out: dict[str, int]) -> None:
    assert increment(a, writer) == out
    assert compare(increment(a, writer), a) is Order.AFTER
    assert a.get(writer, 0) + 1 == out[writer]  # the input is not modified
