"""`/tail`: a chunked ndjson stream of the new matching events, as the writer commits them.

Driven by the store's commit log, like `klogtui query -f`: a line is new when a commit
stored it, whatever its timestamp. The collector and the API share a process, so the
writer's on_commit wakes the tails (a `CommitSignal`); between commits a tail only looks
whether its client is still there.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import NamedTuple

from klogtui.export import Printer
from klogtui.store.compile import CompiledQuery
from klogtui.store.reader import Reader

__all__ = ["CommitSignal", "Start", "follow", "start"]


class CommitSignal:
    """A generation number the writer's on_commit bumps; tails wait for it to move."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._closed = False

    def committed(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every tail for good: the server stops."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def wait(self, seen: int, timeout: float) -> int | None:
        """The generation once it differs from `seen` (or after timeout); None once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != seen or self._closed, timeout)
            return None if self._closed else self._generation


class Start(NamedTuple):
    """Where a tail starts: what it has seen of the signal and of the commit log."""

    generation: int
    seq: int


def start(reader: Reader, signal: CommitSignal) -> Start:
    """The tail's starting point, taken before its client is answered: every commit after
    the answer is then streamed (taken after, a commit in between was lost)."""
    generation = signal.generation  # before the seq: a commit in between is read, not lost
    return Start(generation, reader.last_commit())


def follow(
    reader: Reader,
    query: Callable[[], CompiledQuery],
    signal: CommitSignal,
    write: Callable[[bytes], None],
    client_gone: Callable[[], bool],
    begin: Start,
    idle_check_s: float = 1.0,
) -> None:
    """Write the matching lines of every commit after `begin`, each once, in commit
    order, until the client goes or the signal closes.

    Args:
        query: the caller's query compiled for its current scope (asked again after each
            commit: new sources, or namespaces the caller lost or gained).
        write: sends one chunk (raises OSError once the client is gone or stuck).
        begin: start(), taken before the client was answered.
    """
    printer = Printer(reader, io.StringIO(), "jsonl", color=False)  # only its jsonl()
    seen, seq = begin
    while True:
        now = signal.wait(seen, idle_check_s)
        if now is None:
            return
        if now == seen:
            if client_gone():
                return
            continue
        seen = now
        cq = query()
        while True:
            got = reader.committed_after(cq, seq)
            if got.lines:
                write("".join(printer.jsonl(ln, cursor=True) + "\n" for ln in got.lines).encode())
            if got.seq == seq:
                break
            seq = got.seq
