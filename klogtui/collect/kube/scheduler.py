"""Runs stream tasks with a bounded number at once, taking turns beyond that.

Like stern's --max-log-requests, at most `max_running` log requests are open. While
that is enough for every task, nothing is ever interrupted. Beyond it, turn-taking:

- the chattiest tasks (by `rank`, their measured write rate: the more a container
  writes, the sooner its log file rotates away lines not yet read) are pinned: they
  keep a slot and are never interrupted; a quarter of the slots (at least one) stay
  shared;
- every other task runs in turns of at most `slice_s` seconds, then goes to the back
  of the queue (it saves its resume point, so the next turn continues where it
  stopped; `may_follow` tells it to read what is there and end instead of following);
- an urgent task (rank `math.inf`: its pod is terminating, its last lines are about
  to go) jumps the queue and takes the slot of an unpinned task at once.

A task is any object with `run() -> float | None` (seconds until it wants to run
again, 0 to requeue at once, None when finished) and `interrupt()` (make a running
`run` return soon). Each turn runs on a fresh thread: threads exist only for open
requests, and a task's thread name says what it reads.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["FairScheduler", "Task"]


class Task(Protocol):
    """A unit of work that may run many times (one log request per turn)."""

    name: str

    def run(self) -> float | None: ...

    def interrupt(self) -> None: ...


_QUEUED, _DELAYED, _RUNNING = "queued", "delayed", "running"
_REPIN_S = 1.0  # how often the pinned set follows the measured rates
_KEEP = 1.5  # a pinned task's rank counts this much more when the set is redone


_STALL_CHECK_S = 0.25


def _unranked(task: Task) -> float:
    return 0.0


def _never_stalled(task: Task, now: float) -> bool:
    return False


class FairScheduler:
    """Bounded, time-sliced runner for stream tasks.

    Args:
        max_running: turns that may run at once.
        slice_s: how long a turn may run while other tasks wait for a slot.
        on_crash: told about an exception escaping a task's run (the task ends).
        rank: a task's claim to a slot of its own (its write rate, bytes/s; 0 for a
            quiet one; `math.inf` for an urgent one). Read without locks, often.
        stalled: asked about each running task every `_STALL_CHECK_S`: True if its
            request went silent for too long (it is interrupted, and runs again).
        on_turn_taking: told `turn_taking()` when it changes (checked every second).
    """

    def __init__(
        self,
        max_running: int,
        slice_s: float,
        on_crash: Callable[[Task, BaseException], None] | None = None,
        rank: Callable[[Task], float] = _unranked,
        stalled: Callable[[Task, float], bool] = _never_stalled,
        on_turn_taking: Callable[[tuple[int, int] | None], None] | None = None,
    ) -> None:
        self._max = max(1, max_running)
        self._slice = slice_s
        self._on_crash = on_crash
        self._rank = rank
        self._stalled = stalled
        self._on_turn_taking = on_turn_taking
        self._told: tuple[int, int] | None = None
        self._stall_check_at = 0.0
        self._cond = threading.Condition()
        self._ready: deque[Task] = deque()
        self._front: deque[Task] = deque()  # urgent and pinned tasks: started first
        self._pinned: set[Task] = set()
        self._unpinned: set[Task] = set()  # running tasks that lost their pin this turn
        self._repin_at = 0.0
        self._delayed: list[tuple[float, int, Task]] = []
        self._state: dict[Task, str] = {}
        self._due: dict[Task, float] = {}
        self._started: dict[Task, float] = {}  # running task -> monotonic start of its turn
        self._threads: dict[Task, threading.Thread] = {}
        self._asked: set[Task] = set()  # running tasks already told to yield
        self._woken: set[Task] = set()  # running tasks woken: their next turn comes at once
        self._seq = itertools.count()
        self._stopped = False
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="klogtui-kube-sched", daemon=True
        )
        self._dispatcher.start()

    # -- any thread -------------------------------------------------------------------

    def submit(self, task: Task, delay: float = 0.0) -> None:
        """Queue a task that is not queued or running yet (else nothing happens)."""
        with self._cond:
            if self._stopped or task in self._state:
                return
            self._enqueue(task, delay)

    def wake(self, task: Task) -> None:
        """Run a task now if it waits for its delay; queue it if it is unknown; a running
        task's next turn comes at once."""
        with self._cond:
            if self._stopped:
                return
            state = self._state.get(task)
            if state is None:
                self._enqueue(task, 0.0)
            elif state == _RUNNING:
                self._woken.add(task)  # news during a turn: look at it right after
            elif state == _DELAYED:
                self._due.pop(task, None)
                self._queue(task)
                self._cond.notify_all()
            elif state == _QUEUED and self._rank(task) == math.inf and task in self._ready:
                self._ready.remove(task)  # it became urgent while waiting: to the front
                self._front.append(task)
                self._cond.notify_all()

    def counts(self) -> tuple[int, int, int]:
        """(running, queued for a slot, waiting for their delay)."""
        with self._cond:
            return len(self._started), len(self._ready) + len(self._front), len(self._due)

    def turn_taking(self) -> tuple[int, int] | None:
        """(tasks wanting a slot, tasks pinned) while there are more than slots, else None."""
        with self._cond:
            if len(self._state) <= self._max:
                return None
            return len(self._state), len(self._pinned)

    def pinned(self) -> list[str]:
        """The names of the tasks that keep a slot of their own."""
        with self._cond:
            return sorted(t.name for t in self._pinned)

    def may_follow(self, task: Task) -> bool:
        """Whether a task may keep its request open (else: read what is there, end)."""
        with self._cond:
            return (
                len(self._state) <= self._max
                or task in self._pinned
                or self._rank(task) == math.inf
            )

    def stop(self) -> None:
        """Start no more turns and interrupt the running ones."""
        with self._cond:
            self._stopped = True
            running = list(self._started)
            self._ready.clear()
            self._front.clear()
            self._delayed.clear()
            self._due.clear()
            self._cond.notify_all()
        for task in running:
            task.interrupt()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running turns and the dispatcher to end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._dispatcher.join(timeout)
        with self._cond:
            threads = list(self._threads.values())
        for t in threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # -- internals --------------------------------------------------------------------

    def _queue(self, task: Task) -> None:
        self._state[task] = _QUEUED
        if task in self._pinned or self._rank(task) == math.inf:
            self._front.append(task)
        else:
            self._ready.append(task)

    def _enqueue(self, task: Task, delay: float) -> None:
        if delay <= 0:
            self._queue(task)
        else:
            due = time.monotonic() + delay
            self._state[task] = _DELAYED
            self._due[task] = due
            heapq.heappush(self._delayed, (due, next(self._seq), task))
        self._cond.notify_all()

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    due, _, task = heapq.heappop(self._delayed)
                    # Skip entries made stale by wake() or a later enqueue.
                    if self._state.get(task) == _DELAYED and self._due.get(task) == due:
                        del self._due[task]
                        self._queue(task)
                if now >= self._repin_at:
                    self._repin()
                    self._repin_at = now + _REPIN_S
                while (self._front or self._ready) and len(self._started) < self._max:
                    queue = self._front or self._ready
                    self._start(queue.popleft(), now)
                wake_at = min(
                    self._delayed[0][0] if self._delayed else now + 3600.0, now + _REPIN_S
                )
                to_interrupt, slice_end = self._to_interrupt(now)
                if now >= self._stall_check_at:
                    self._stall_check_at = now + _STALL_CHECK_S
                    for task in self._started:
                        if task not in self._asked and self._stalled(task, now):
                            self._asked.add(task)
                            to_interrupt.append(task)
                wake_at = min(wake_at, self._stall_check_at)
                if not to_interrupt:
                    self._cond.wait(max(0.0, min(wake_at, slice_end) - now))
            for task in to_interrupt:
                task.interrupt()

    def _repin(self) -> None:
        """Pin the chattiest tasks while there are more tasks than slots."""
        self._repin_tasks()
        taking = (len(self._state), len(self._pinned)) if len(self._state) > self._max else None
        if taking != self._told and self._on_turn_taking is not None:
            self._told = taking
            self._on_turn_taking(taking)

    def _repin_tasks(self) -> None:
        if len(self._state) <= self._max:
            self._pinned = set()
            return
        room = self._max - max(1, self._max // 4)
        # Hysteresis: a pinned task keeps its slot unless another writes clearly more;
        # among equals the pinned set would churn, and every change costs a reconnect.
        ranked = sorted(
            ((self._rank(t) * (_KEEP if t in self._pinned else 1.0), t) for t in self._state),
            key=lambda rt: -rt[0],
        )
        pinned = {t for r, t in ranked[:room] if 0 < r < math.inf}
        for task in self._pinned - pinned:
            if task in self._started:
                self._unpinned.add(task)  # it follows: it yields without waiting a slice
        for task in pinned - self._pinned:
            if self._state.get(task) == _DELAYED:
                # Newly pinned while waiting for its next turn: it follows from now on.
                self._due.pop(task, None)
                self._state[task] = _QUEUED
                self._front.append(task)
        self._pinned = pinned

    def _to_interrupt(self, now: float) -> tuple[list[Task], float]:
        """Running tasks to ask to yield for the waiting ones; when to look again."""
        waiting = len(self._front) + len(self._ready)
        want = waiting - len(self._asked)
        if want <= 0:
            return [], now + 3600.0
        out: list[Task] = []
        running = sorted(self._started.items(), key=lambda kv: kv[1])
        yielding = [t for t, _ in running if t not in self._pinned and self._rank(t) != math.inf]
        may_yield = set(yielding)
        urgent = sum(1 for t in self._front if self._rank(t) == math.inf)
        if urgent and len(self._started) >= self._max:
            # An urgent task does not wait for a slice to end: its pod is going.
            for task in yielding + [t for t, _ in running if t in self._pinned]:
                if urgent <= 0:
                    break
                if task not in self._asked:
                    self._asked.add(task)
                    out.append(task)
                    urgent -= 1
                    want -= 1
        # The oldest unpinned turns past their slice yield (one just unpinned at once).
        next_end = now + 3600.0
        for task, since in running:
            if want <= 0:
                break
            if task in self._asked or task not in may_yield:
                continue
            if now - since < self._slice and task not in self._unpinned:
                next_end = min(next_end, since + self._slice)
                continue
            self._asked.add(task)
            out.append(task)
            want -= 1
        return out, next_end

    def _start(self, task: Task, now: float) -> None:
        self._state[task] = _RUNNING
        self._started[task] = now
        t = threading.Thread(
            target=self._turn, args=(task,), name=f"klogtui-kube {task.name}", daemon=True
        )
        self._threads[task] = t
        t.start()

    def _turn(self, task: Task) -> None:
        delay: float | None = None
        try:
            delay = task.run()
        except BaseException as e:  # noqa: BLE001 - reported; the task ends, others go on
            if self._on_crash is not None:
                self._on_crash(task, e)
        with self._cond:
            self._started.pop(task, None)
            self._threads.pop(task, None)
            self._asked.discard(task)
            self._unpinned.discard(task)
            del self._state[task]
            if task in self._woken:
                self._woken.discard(task)
                delay = None if delay is None else 0.0
            if delay is not None and not self._stopped:
                self._enqueue(task, delay)
            self._cond.notify_all()
