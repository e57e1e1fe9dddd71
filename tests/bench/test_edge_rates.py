"""Interleaved rounds of `bench edge`: every ratio is taken within a round."""

import pytest

from edgefleet.bench.edge.cpu import ROLES
from edgefleet.bench.edge.rates import Burst, Rounds


def _burst(rate: float, answered: int = 100, loop_s: float = 0.1) -> Burst:
    return Burst(rate, answered, 0, {r: (loop_s if r == "agent loop" else 0.0) for r in ROLES})


def test_a_slow_phase_divides_out_of_the_ratios() -> None:
    # the machine halves its speed in round 2: in-process and both agents alike
    rounds = Rounds(
        in_process=[500.0, 250.0, 500.0],
        bursts={
            1: [_burst(450.0), _burst(225.0), _burst(450.0)],
            2: [_burst(630.0), _burst(315.0), _burst(630.0)],
        },
    )
    assert rounds.ratios(1) == pytest.approx([0.9, 0.9, 0.9])
    one, two = rounds.fields(1), rounds.fields(2)
    assert one["rate_ratio"] == pytest.approx(0.9)
    assert one["rate"] == 450.0  # median of the bursts' rates
    assert one["rate_n"] == 300
    assert "scaling" not in one
    assert two["scaling"] == pytest.approx(1.4)
    assert two["scaling_rounds"] == pytest.approx([1.4, 1.4, 1.4])
    # across rounds the same figures would read 0.45 .. 1.8 and 0.7 .. 2.8


def test_cpu_is_per_answered_request_over_all_rounds() -> None:
    rounds = Rounds(in_process=[1.0, 1.0], bursts={1: [_burst(1, 100, 0.1), _burst(1, 300, 0.1)]})
    split = rounds.cpu_ms(1)
    assert split is not None
    assert split["agent loop"] == pytest.approx(0.2 * 1000 / 400)
    assert split["total"] == pytest.approx(sum(split[r] for r in ROLES))


def test_a_round_without_answers_has_no_cpu_split() -> None:
    rounds = Rounds(in_process=[1.0], bursts={1: [_burst(0.0, answered=0)]})
    assert rounds.cpu_ms(1) is None
