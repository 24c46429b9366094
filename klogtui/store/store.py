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

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> Store:
        """Open (creating or migrating) the store at path; with readonly, only check
        that it can be read (nothing is created or written).

        Raises:
            StoreError: not a klogtui store, damaged (BrokenStoreError), or not
                writable (ReadOnlyStoreError, at once).
        """
        path = Path(path).expanduser()
        conn = connect(path, create=not readonly, readonly=readonly)
        try:
            if not readonly:
                check_integrity(conn, path)  # never write on into a damaged file
        finally:
            conn.close()
        return cls(path)

    def start_writer(
        self,
        on_commit: Callable[[CommitInfo], None] | None = None,
        on_error: Callable[[WriteError], None] | None = None,
        retention: Retention | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> Writer:
        """Start the store's single writer thread (see Writer for the arguments)."""
        return Writer(
            self.path,
            on_commit=on_commit,
            on_error=on_error,
            retention=retention,
            on_notice=on_notice,
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
