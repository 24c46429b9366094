"""Throttle: at most one run per interval; asks in between become one run at its end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from klogtui.ui import throttle as throttle_module
from klogtui.ui.throttle import Throttle

HOUR = 3600.0  # an interval no test outlasts: "within the interval" holds on any machine


class Timers:
    """Stands in for Textual's set_timer: records what was scheduled, runs it on demand."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> None:
        self.pending.append((delay, callback))

    def fire(self) -> None:
        due, self.pending = self.pending, []
        for _delay, callback in due:
            callback()


def test_the_first_call_runs_at_once() -> None:
    runs: list[int] = []
    Throttle(HOUR, Timers())(lambda: runs.append(1))
    assert runs == [1]


def test_calls_within_the_interval_become_one_run_at_its_end() -> None:
    timers, runs = Timers(), []
    throttle = Throttle(HOUR, timers)
    throttle(lambda: runs.append("now"))
    for _ in range(5):
        throttle(lambda: runs.append("later"))
    assert runs == ["now"]
    assert len(timers.pending) == 1 and 0 < timers.pending[0][0] <= HOUR
    timers.fire()
    assert runs == ["now", "later"]
    # The scheduled run started a new interval: the next ask waits again.
    throttle(lambda: runs.append("again"))
    assert runs == ["now", "later"] and len(timers.pending) == 1


def test_an_interval_of_its_own_for_one_call() -> None:
    timers, runs = Timers(), []
    throttle = Throttle(HOUR, timers)
    throttle(lambda: runs.append(1))
    throttle(lambda: runs.append(2), interval=0.0)  # e.g. a cheaper refresh
    assert runs == [1, 2] and timers.pending == []


def test_a_run_outside_the_throttle_restarts_the_interval() -> None:
    timers, runs = Timers(), []
    throttle = Throttle(HOUR, timers)
    throttle.ran()
    throttle(lambda: runs.append(1))
    assert runs == [] and len(timers.pending) == 1


class Clock:
    """Stands in for the time module's monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_an_ask_while_a_run_is_scheduled_waits_for_that_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, timers, runs = Clock(), Timers(), []
    monkeypatch.setattr(throttle_module, "time", clock)
    throttle = Throttle(1.0, timers)
    throttle(lambda: runs.append("now"))
    throttle(lambda: runs.append("later"))
    # The interval is over but the event loop, busy, has not fired the timer yet: the
    # ask is that run, not a second one right before it.
    clock.now += 1.5
    throttle(lambda: runs.append("again"))
    assert runs == ["now"]
    timers.fire()
    assert runs == ["now", "later"] and timers.pending == []
