"""The one retry-delay rule of remote mode: doubling from a base to a cap, jittered."""

from __future__ import annotations

import random

from klogtui.collect.backoff import Backoff


def _top() -> float:
    return 1.0  # the jitter's upper end: the nominal delay itself


def _bottom() -> float:
    return 0.0  # the jitter's lower end: half the nominal delay


def test_each_failure_doubles_the_delay_up_to_the_cap() -> None:
    b = Backoff(0.5, 30.0, rand=_top)
    assert [b.failed() for _ in range(9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_never_goes_below_half_the_nominal_delay() -> None:
    b = Backoff(0.5, 30.0, rand=_bottom)
    assert [b.failed() for _ in range(4)] == [0.25, 0.5, 1.0, 2.0]


def test_real_jitter_stays_within_half_and_all_of_the_delay_and_spreads() -> None:
    rng = random.Random(7)
    delays = [Backoff(2.0, 30.0, rand=rng.random).failed() for _ in range(500)]
    assert all(1.0 <= d < 2.0 for d in delays)
    assert max(delays) - min(delays) > 0.5  # clients that failed together do not retry together
    default = [Backoff(2.0, 30.0).failed() for _ in range(50)]
    assert all(1.0 <= d < 2.0 for d in default)


def test_a_success_resets_the_delay_to_the_base() -> None:
    b = Backoff(0.5, 30.0, rand=_top)
    for _ in range(5):
        b.failed()
    b.reset()
    assert b.failed() == 0.5


def test_at_least_skips_the_short_delays_but_never_shortens() -> None:
    b = Backoff(0.5, 30.0, rand=_top)
    b.at_least(4)
    assert b.failed() == 8.0  # the fifth failure's delay
    b.at_least(2)
    assert b.failed() == 16.0


def test_first_delay_is_a_pause_that_counts_no_failure() -> None:
    b = Backoff(0.5, 30.0, rand=_top)
    assert b.first_delay() == 0.5
    assert b.first_delay() == 0.5
    assert b.failed() == 0.5


def test_a_very_long_outage_stays_at_the_cap() -> None:
    b = Backoff(0.5, 30.0, failures=100_000, rand=_top)
    assert b.failed() == 30.0
