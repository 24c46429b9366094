"""The store as one object: open a file, start its writer, open readers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from klogtui.store.integrity import check_integrity
from klogtui.store.reader import Reader
from klogtui.store.retention import Retention
from klogtui.store.schema import connect
from klogtui.store.writer import CommitInfo, WriteError, Writer

__all__ = ["Store"]


class Store:
    """A klogtui store file. Cheap to hold; connections are opened on demand."""

    def __init__(self, path: Path, *, unchecked: bool = False) -> None:
        self.path = Path(path)
        # Opened without the integrity check: its writers run it before writing.
        self._unchecked = unchecked

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, check: bool = True) -> Store:
        """Open (creating or migrating) the store at path; with readonly, only check
        that it can be read (nothing is created or written).

        The integrity check (up to CHECK_BUDGET_S on a big store) runs here, or with
        check=False on the writer's thread before its first write: the explorer shows
        the store meanwhile, and damage stops the writer (its on_error says so).

        Raises:
            StoreError: not a klogtui store, damaged (BrokenStoreError), or not
                writable (ReadOnlyStoreError, at once).
        """
        path = Path(path).expanduser()
        conn = connect(path, create=not readonly, readonly=readonly)
        try:
            if not readonly and check:
                check_integrity(conn, path)  # never write on into a damaged file
        finally:
            conn.close()
        return cls(path, unchecked=not readonly and not check)

    def start_writer(
        self,
        on_commit: Callable[[CommitInfo], None] | None = None,
        on_error: Callable[[WriteError], None] | None = None,
        retention: Retention | None = None,
        on_notice: Callable[[str], None] | None = None,
        compact_before_close: bool = False,
    ) -> Writer:
        """Start the store's single writer thread (see Writer for the arguments)."""
        return Writer(
            self.path,
            on_commit=on_commit,
            on_error=on_error,
            retention=retention,
            on_notice=on_notice,
            check_first=self._unchecked,
            compact_before_close=compact_before_close,
        )

    def reader(self) -> Reader:
        """A new read connection (one per thread that reads in parallel)."""
        return Reader(self.path)

    def load_checkpoints(self, prefix: str = "") -> dict[str, str]:
        """Committed checkpoints whose key starts with prefix."""
        conn = connect(self.path)
        try:
            rows = conn.execute(
                "SELECT key, value FROM checkpoints WHERE key >= ? AND key < ?",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        finally:
            conn.close()
        return dict(rows)
