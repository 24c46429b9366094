"""Runs stream tasks with a bounded number at once, round-robin beyond that.

Like stern's --max-log-requests, at most `max_running` log requests are open. When
more tasks are ready than that, each running task gets `slice_s` seconds, then is
interrupted and goes to the back of the queue; a task saves its resume point when it
yields, so the next turn continues where it stopped (the kubelet keeps the lines in the
meantime). With fewer tasks than slots nothing is ever interrupted.

A task is any object with `run() -> float | None` (seconds until it wants to run
again, 0 to requeue at once, None when finished) and `interrupt()` (make a running
`run` return soon). Each turn runs on a fresh thread: threads exist only for open
requests, and a task's thread name says what it reads.
"""

from __future__ import annotations

import heapq
import itertools
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


class FairScheduler:
    """Bounded, time-sliced runner for stream tasks.

    Args:
        max_running: turns that may run at once.
        slice_s: how long a turn may run while other tasks wait for a slot.
        on_crash: told about an exception escaping a task's run (the task ends).
    """

    def __init__(
        self,
        max_running: int,
        slice_s: float,
        on_crash: Callable[[Task, BaseException], None] | None = None,
    ) -> None:
        self._max = max(1, max_running)
        self._slice = slice_s
        self._on_crash = on_crash
        self._cond = threading.Condition()
        self._ready: deque[Task] = deque()
        self._delayed: list[tuple[float, int, Task]] = []
        self._state: dict[Task, str] = {}
        self._due: dict[Task, float] = {}
        self._started: dict[Task, float] = {}  # running task -> monotonic start of its turn
        self._threads: dict[Task, threading.Thread] = {}
        self._asked: set[Task] = set()  # running tasks already told to yield
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
        """Run a task now if it waits for its delay; queue it if it is unknown."""
        with self._cond:
            if self._stopped:
                return
            state = self._state.get(task)
            if state is None:
                self._enqueue(task, 0.0)
            elif state == _DELAYED:
                self._state[task] = _QUEUED
                self._due.pop(task, None)
                self._ready.append(task)
                self._cond.notify_all()

    def counts(self) -> tuple[int, int, int]:
        """(running, queued for a slot, waiting for their delay)."""
        with self._cond:
            return len(self._started), len(self._ready), len(self._due)

    def stop(self) -> None:
        """Start no more turns and interrupt the running ones."""
        with self._cond:
            self._stopped = True
            running = list(self._started)
            self._ready.clear()
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

    def _enqueue(self, task: Task, delay: float) -> None:
        if delay <= 0:
            self._state[task] = _QUEUED
            self._ready.append(task)
        else:
            due = time.monotonic() + delay
            self._state[task] = _DELAYED
            self._due[task] = due
            heapq.heappush(self._delayed, (due, next(self._seq), task))
        self._cond.notify_all()

    def _dispatch(self) -> None:
        while True:
            to_interrupt: list[Task] = []
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    due, _, task = heapq.heappop(self._delayed)
                    # Skip entries made stale by wake() or a later enqueue.
                    if self._state.get(task) == _DELAYED and self._due.get(task) == due:
                        del self._due[task]
                        self._state[task] = _QUEUED
                        self._ready.append(task)
                while self._ready and len(self._started) < self._max:
                    self._start(self._ready.popleft(), now)
                wake_at = self._delayed[0][0] if self._delayed else now + 3600.0
                if self._ready:
                    # More ready than slots: the oldest turns past their slice yield.
                    want = len(self._ready) - len(self._asked)
                    for task, since in sorted(self._started.items(), key=lambda kv: kv[1]):
                        if want <= 0:
                            break
                        if task in self._asked:
                            continue
                        if now - since >= self._slice:
                            self._asked.add(task)
                            to_interrupt.append(task)
                            want -= 1
                        else:
                            wake_at = min(wake_at, since + self._slice)
                            break
                if not to_interrupt:
                    self._cond.wait(max(0.0, wake_at - now))
            for task in to_interrupt:
                task.interrupt()

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
            del self._state[task]
            if delay is not None and not self._stopped:
                self._enqueue(task, delay)
            self._cond.notify_all()
