"""One batch being filled: records, the newest checkpoint per key, deleted checkpoints and
source updates, and when it is due (by line count or by the age of its oldest item).

A batch goes to the store in one transaction, so checkpoints commit with the lines they
describe. The builder only accumulates and decides; handing batches over (on the
caller's thread, or a thread of its own with back-pressure) is the collector's business.
It is not thread-safe: one thread fills it, or its owner holds a lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from klogtui.model import Batch, Record, SourceInfo

__all__ = ["BatchBuilder", "CheckpointValue"]

# A checkpoint's text, or what computes it when the batch is taken: a file collector
# marks a stream dirty on every chunk read and serialises it once per batch.
CheckpointValue = str | Callable[[], str]


class BatchBuilder:
    """Accumulates the next `Batch` and says when it is due.

    Args:
        max_lines: the batch is due once it holds this many records.
        max_delay_s: ... or once its oldest item waited this long.

    Attributes:
        records: the records so far, in order. Hot loops may append to it directly
            (then call `touch`); `take` replaces the list, so do not keep it across one.
        since: monotonic time the batch's oldest item arrived; 0.0 while it is empty.
    """

    __slots__ = (
        "_checkpoints",
        "_deleted",
        "_hurried",
        "_sources",
        "max_delay_s",
        "max_lines",
        "records",
        "since",
    )

    def __init__(self, max_lines: int, max_delay_s: float) -> None:
        self.max_lines = max_lines
        self.max_delay_s = max_delay_s
        self.records: list[Record] = []
        self.since = 0.0
        self._checkpoints: dict[str, CheckpointValue] = {}
        self._deleted: set[str] = set()
        self._sources: list[SourceInfo] = []
        self._hurried = False

    @property
    def empty(self) -> bool:
        """Nothing to store: no record, checkpoint, deletion or source update."""
        return not (self.records or self._checkpoints or self._sources or self._deleted)

    def touch(self) -> None:
        """Something is going into the batch: start its clock if it was empty."""
        if not self.since:
            self.since = time.monotonic()

    def add_records(self, records: Iterable[Record]) -> None:
        """Append records (in order)."""
        before = len(self.records)
        self.records.extend(records)
        if len(self.records) != before:
            self.touch()

    def add_source(self, info: SourceInfo) -> None:
        """Add a source update (state, container id, node), stored with the batch."""
        self.touch()
        self._sources.append(info)

    def put_checkpoint(self, key: str, value: CheckpointValue) -> None:
        """Store this checkpoint with the batch (replacing one put before under key)."""
        self.touch()
        self._checkpoints[key] = value
        self._deleted.discard(key)

    def keep_checkpoint(self, key: str) -> None:
        """Take back a deletion of key not handed over yet (its content came back)."""
        self._deleted.discard(key)

    def delete_checkpoint(self, key: str) -> None:
        """Delete the stored checkpoint under key with the batch (and drop a put one)."""
        self.touch()
        self._checkpoints.pop(key, None)
        self._deleted.add(key)

    def hurry(self) -> None:
        """Make a non-empty batch due now (a flush), whatever its size and age."""
        if self.since:
            self._hurried = True

    def due(self, now: float | None = None) -> bool:
        """Whether the batch should be handed over: full, old enough, or hurried.

        Args:
            now: `time.monotonic()`, if the caller has it at hand.
        """
        if not self.since:
            return False
        if self._hurried or len(self.records) >= self.max_lines:
            return True
        return (time.monotonic() if now is None else now) - self.since >= self.max_delay_s

    def take(self) -> Batch | None:
        """The batch filled so far (None if nothing went in); the builder starts anew."""
        if not self.since:
            return None
        batch = Batch(
            records=self.records,
            checkpoints={
                key: value if isinstance(value, str) else value()
                for key, value in self._checkpoints.items()
            },
            sources=self._sources,
            deleted_checkpoints=sorted(self._deleted),
        )
        self.records = []
        self._checkpoints = {}
        self._deleted = set()
        self._sources = []
        self.since = 0.0
        self._hurried = False
        return batch
