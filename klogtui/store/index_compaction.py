"""The text index merged into one segment once a backfill has loaded.

FTS5 keeps what each transaction indexed as a segment of its own and merges segments
only when enough of one size pile up (automerge). A backfill commits a thousand
transactions for 1M lines (the newest lines first, then the older history below them),
and leaves dozens of segments, each with its own page headers and doclist restarts:
merged into one, the bench's 1M-line tree's index takes 66 MB instead of 72 MB, and a
query opens one segment instead of dozens. Merging 1M lines' index costs ~1.4 s of CPU.

It runs once per writer, when the writer has committed a backfill's worth of lines and
then finds nothing queued (the backfill is over), or when it is closed (`collect
--once`). The merge goes in steps of a few hundred pages, each its own transaction
between the writer's (retention's `merge_step`), with the WAL kept bounded; the pages it
frees go back to the file system. Compaction is an optimisation: a step that fails
(disk full, say) ends it, rolled back, and the index stays as it was.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import time

from klogtui.store.retention import bound_wal, give_back, merge_step

__all__ = ["IndexCompaction"]

log = logging.getLogger(__name__)


class _State(enum.Enum):
    WAITING = "waiting"  # for a backfill's worth of lines and a quiet moment
    MERGING = "merging"
    DONE = "done"


class IndexCompaction:
    """Merges a store's text index into one segment, once, on the writer's thread.

    Args:
        after_lines: lines the writer must have committed before it is worth it.
    """

    def __init__(self, after_lines: int) -> None:
        self._after_lines = after_lines
        self._state = _State.WAITING

    @property
    def merging(self) -> bool:
        """A merge is under way: call work() again soon."""
        return self._state is _State.MERGING

    def quiet(self, lines_written: int) -> None:
        """The writer found nothing queued: start if a backfill's worth was written."""
        if self._state is _State.WAITING and lines_written >= self._after_lines:
            self._state = _State.MERGING

    def work(self, conn: sqlite3.Connection, budget_s: float) -> None:
        """Merge steps for about budget_s while a merge is under way."""
        end = time.monotonic() + budget_s
        try:
            while self._state is _State.MERGING:
                bound_wal(conn)
                if not merge_step(conn):
                    self._state = _State.DONE
                    if conn.execute("PRAGMA auto_vacuum").fetchone()[0]:
                        give_back(conn)
                elif time.monotonic() >= end:
                    return
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._state = _State.DONE
            log.info("text index compaction stopped: %s", e)

    def finish(self, conn: sqlite3.Connection, lines_written: int, timeout_s: float) -> None:
        """Before the writer closes: the whole merge if it is due, for up to timeout_s."""
        self.quiet(lines_written)
        self.work(conn, timeout_s)
