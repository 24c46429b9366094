"""The stream scheduler: a bounded number of turns at once, round-robin beyond it."""

from __future__ import annotations

import threading
import time

from klogtui.collect.kube.scheduler import FairScheduler
from tests.waiting import wait_for


class Follower:
    """Like a follow stream: runs until interrupted, then asks to run again at once."""

    running = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, name: str, turns_wanted: int | None = None) -> None:
        self.name = name
        self.turns = 0
        self.interrupts = 0
        self._wake = threading.Event()
        self.turns_wanted = turns_wanted

    def run(self) -> float | None:
        with Follower.lock:
            Follower.running += 1
            Follower.peak = max(Follower.peak, Follower.running)
        self.turns += 1
        self._wake.wait(5)
        self._wake.clear()
        with Follower.lock:
            Follower.running -= 1
        if self.turns_wanted is not None and self.turns >= self.turns_wanted:
            return None
        return 0.0

    def interrupt(self) -> None:
        self.interrupts += 1
        self._wake.set()


def test_tasks_beyond_the_limit_take_turns() -> None:
    Follower.running = Follower.peak = 0
    tasks = [Follower(f"t{i}") for i in range(7)]
    s = FairScheduler(max_running=3, slice_s=0.1)
    for t in tasks:
        s.submit(t)
    wait_for(lambda: all(t.turns >= 3 for t in tasks), timeout=10, what="three turns each")
    assert Follower.peak == 3
    # Every slot in use (at a hand-over one task may have left before the next started).
    wait_for(lambda: s.counts()[0] == 3, timeout=10, what="three running")
    s.stop()
    s.join(5)
    assert Follower.running == 0


def test_no_interruptions_while_everyone_has_a_slot() -> None:
    tasks = [Follower(f"t{i}") for i in range(3)]
    s = FairScheduler(max_running=3, slice_s=0.05)
    for t in tasks:
        s.submit(t)
    time.sleep(0.4)
    assert [t.interrupts for t in tasks] == [0, 0, 0]
    assert [t.turns for t in tasks] == [1, 1, 1]
    s.stop()
    s.join(5)
    assert [t.interrupts for t in tasks] == [1, 1, 1]


class Delayed:
    def __init__(self, delays: list[float | None]) -> None:
        self.name = "delayed"
        self.delays = delays
        self.times: list[float] = []

    def run(self) -> float | None:
        self.times.append(time.monotonic())
        return self.delays.pop(0)

    def interrupt(self) -> None:
        pass


def test_delay_and_wake() -> None:
    s = FairScheduler(max_running=1, slice_s=1.0)
    t = Delayed([0.15, 30.0, None])
    s.submit(t)
    wait_for(lambda: len(t.times) == 2, timeout=5)
    assert t.times[1] - t.times[0] >= 0.15
    s.wake(t)  # cuts the 30 s wait short
    wait_for(lambda: len(t.times) == 3, timeout=2)
    assert s.counts() == (0, 0, 0)  # finished: known no more
    s.submit(t)  # a finished task may be submitted again
    t.delays.append(None)
    wait_for(lambda: len(t.times) == 4, timeout=2)
    s.stop()
    s.join(5)


def test_a_crashing_task_is_reported_and_the_rest_go_on() -> None:
    crashes: list[str] = []

    class Boom(Delayed):
        def run(self) -> float | None:
            raise RuntimeError("boom")

    s = FairScheduler(2, 1.0, on_crash=lambda task, exc: crashes.append(str(exc)))
    ok = Delayed([None])
    s.submit(Boom([]))
    s.submit(ok)
    wait_for(lambda: crashes == ["boom"] and len(ok.times) == 1, timeout=5)
    s.stop()
    s.join(5)
