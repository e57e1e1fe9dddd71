"""Version vectors (vector clocks) for the twin: pure functions over `dict[str, int]`.

A vector maps a writer (`hub`, a device id) to how many changes it has made. A missing entry
is 0. `compare(a, b)` tells whether `a` happened before, after, at the same point as, or
concurrently with `b` (docs/twin.md: vector clocks order concurrent state updates).
"""

from collections.abc import Mapping
from enum import StrEnum

Vector = Mapping[str, int]


class Order(StrEnum):
    EQUAL = "equal"
    BEFORE = "before"  # a happened before b: b has seen everything a has
    AFTER = "after"  # a happened after b
    CONCURRENT = "concurrent"  # neither saw the other: a conflict to resolve


def dominates(a: Vector, b: Vector) -> bool:
    """a >= b entry by entry: a has seen every change b has."""
    return all(a.get(k, 0) >= n for k, n in b.items())


def compare(a: Vector, b: Vector) -> Order:
    a_ge, b_ge = dominates(a, b), dominates(b, a)
    if a_ge and b_ge:
        return Order.EQUAL
    if a_ge:
        return Order.AFTER
    if b_ge:
        return Order.BEFORE
    return Order.CONCURRENT


def merge(a: Vector, b: Vector) -> dict[str, int]:
    """Entry-wise maximum: the vector of a state that has seen both."""
    return {k: max(a.get(k, 0), b.get(k, 0)) for k in sorted(a.keys() | b.keys())}


def increment(a: Vector, writer: str) -> dict[str, int]:
    """`a` after one more change by `writer`."""
    return {**a, writer: a.get(writer, 0) + 1}


def concurrent(a: Vector, b: Vector) -> bool:
    return compare(a, b) is Order.CONCURRENT
