"""Who collects into a store: one process at a time, for as long as it runs.

Two collectors on one store each read every file from the same checkpoints and store
every line twice. The process that collects holds an exclusive `flock` on a lock file
beside the store (``<store>.lock``, holding its pid) for its whole life; the kernel
releases it when the process ends, kill -9 included. The store file itself is never
opened for this: closing any descriptor of it would drop SQLite's own POSIX locks.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from klogtui.errors import StoreError
from klogtui.store.schema import ensure_private_dir

__all__ = ["CollectingElsewhere", "OwnerLock", "collecting_pid", "lock_path", "pid_alive"]

# A process asking who collects holds a shared lock for a moment; a collector that
# starts in that moment waits this long for it rather than refusing.
_SETTLE_S = 0.5


class CollectingElsewhere(StoreError):
    """Another process collects into the store; `pid` is its process id (0: unknown)."""

    def __init__(self, db: Path, pid: int) -> None:
        who = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"{db}: another klogtui ({who}) is already collecting into this store; "
            "a second collector would store every line twice. Stop it first, or pass "
            "--db to collect into another store (`klogtui query` and `klogtui` read it "
            "while it collects)."
        )
        self.db = db
        self.pid = pid


def lock_path(db: Path) -> Path:
    """The lock file of the store at db."""
    return Path(f"{db}.lock")


def _read_pid(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (OSError, ValueError):
        return 0


class OwnerLock:
    """The right to collect into one store, held until `release` or process exit."""

    def __init__(self, db: Path, fd: int) -> None:
        self.db = db
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db: Path) -> OwnerLock:
        """Take the store's lock and write our pid into it.

        Raises:
            CollectingElsewhere: another process holds it.
            StoreError: the lock file cannot be created (e.g. a read-only directory).
        """
        db = Path(db)
        path = lock_path(db)
        try:
            ensure_private_dir(db.parent)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise StoreError(
                f"{path}: cannot create the store's lock file ({e.strerror}); "
                "klogtui cannot collect into this store"
            ) from e
        deadline = time.monotonic() + _SETTLE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = _read_pid(fd)
                    os.close(fd)
                    raise CollectingElsewhere(db, pid) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(db, fd)

    def release(self) -> None:
        """Let another process collect (closing the file releases the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def collecting_pid(db: Path) -> int | None:
    """The pid of the process collecting into db (0 if it did not say), or None."""
    try:
        fd = os.open(lock_path(db), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: nobody ever collected here, or we cannot tell
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        return None  # closing the descriptor below lets go at once
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether process pid still exists (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True
