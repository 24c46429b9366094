"""Whether the store's paths still name the files the writer has open.

Deleting or moving a store while it is written does not stop SQLite: it writes on
into the unlinked file, and every line committed there is lost, offsets included. A
deleted ``-wal`` is worse in another way: the writer keeps appending to the unlinked
WAL while readers open a new, empty one beside a wal-index that points into the old
one, and fail with "disk I/O error". The writer compares (device, inode) of each path
with what it opened, on every commit and when idle.
"""

from __future__ import annotations

import os
from pathlib import Path

from klogtui.errors import StoreError

__all__ = ["StoreFiles", "StoreGone"]


class StoreGone(StoreError):
    """The store file was deleted or replaced while this process wrote to it."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path}: the store was deleted or replaced while klogtui was collecting into "
            "it; stopped rather than write on into a file no one can read. Lines it held "
            "are gone with it; run klogtui again to start a new store (the log files still "
            "on disk are read again from their start)."
        )
        self.path = path


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class StoreFiles:
    """The store file, WAL and wal-index as they were when the writer opened them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = _identity(str(path))
        self._wal = _identity(self.wal)
        self._shm = _identity(self.shm)

    @property
    def wal(self) -> str:
        return f"{self.path}-wal"

    @property
    def shm(self) -> str:
        return f"{self.path}-shm"

    def store_gone(self) -> bool:
        """The store's path no longer names the file being written."""
        return _identity(str(self.path)) != self._db

    def wal_gone(self) -> bool:
        """The WAL being written is no longer at its path (deleted or replaced)."""
        now = _identity(self.wal)
        if self._wal is None:
            self._wal = now  # SQLite creates it on first use
            return False
        return now != self._wal

    def remove_companions(self) -> None:
        """Remove the WAL and wal-index beside a gone store if they are still ours, so a
        new store created at the path does not take them for its own."""
        for name, ours in ((self.wal, self._wal), (self.shm, self._shm)):
            if ours is not None and _identity(name) == ours:
                try:
                    os.unlink(name)
                except FileNotFoundError:
                    pass
