"""Open files and the shortage of file descriptors: opening, closing and counting them,
shedding idle ones when ``ulimit -n`` is reached, remembering what to try again, and
reporting a file that cannot be read (once, until it changes).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from typing import TypeVar

from klogtui.collect.base import CollectorStats
from klogtui.collect.files.tracked import LogFile, Tracked
from klogtui.collect.files.watch import OUT_OF_FDS, Watches

__all__ = ["Descriptors"]

_T = TypeVar("_T")


class Descriptors:
    """The collector's file descriptors.

    Attributes:
        retry_scan: something could not be opened or listed for want of descriptors:
            a full scan at the next polling round tries again.
        opened: files opened so far (progress while retrying).
    """

    def __init__(self, stats: CollectorStats, tracked: Tracked, watches: Watches) -> None:
        self.stats = stats
        self._tracked = tracked
        self._watches = watches
        # Out of file descriptors: what could not be opened or listed is tried again by
        # a full scan at the next polling round, after the files read are closed.
        self._fds_said = False
        self.retry_scan = False
        self._retry_files: set[LogFile] = set()  # tracked, but their read could not open them
        self.opened = 0
        self._open_fds = 0

    def with_fds(self, op: Callable[[], _T]) -> _T:
        """op(); if it ran out of file descriptors, once more after closing idle files.

        Raises:
            OSError: what op raised the second time (or the first, for other errors).
        """
        try:
            return op()
        except OSError as e:
            if e.errno not in OUT_OF_FDS:
                raise
            self._out_of_fds(e)
        return op()

    def _out_of_fds(self, e: OSError) -> None:
        if not self._fds_said:
            self._fds_said = True
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            self.stats.error(
                "file descriptors",
                f"out of them ({e.strerror}; ulimit -n is {soft}): files are read in "
                "turns, closed once read and reopened when they grow",
            )
        self.shed_idle_fds()

    def retry_later(self, e: OSError, f: LogFile | None = None) -> bool:
        """Whether e is a shortage of descriptors: then a later scan tries again (and
        reads f again)."""
        if e.errno not in OUT_OF_FDS:
            return False
        self.retry_scan = True
        if f is not None:
            self._retry_files.add(f)
        return True

    def take_retry_files(self) -> set[LogFile]:
        """The files whose read could not open them since the last call."""
        files, self._retry_files = self._retry_files, set()
        return files

    def shed_idle_fds(self) -> None:
        """Close every file read to its end that a name still leads to: it is reopened
        when it grows, as files closed while idle are. Deleted files, and files holding
        a partial line, stay open: their bytes would be lost with the descriptor."""
        for f in list(self._tracked.files.values()):
            st = f.stream
            if (
                f.fd is None
                or st is None
                or f.watch is not None
                or f in self._tracked.closing
                or st.tail
                or st.decoder.pending
            ):
                continue
            try:
                fst = os.fstat(f.fd)
            except OSError:
                continue
            if fst.st_nlink and fst.st_size == f.size_seen:
                self.close_fd(f)
                f.shed = True

    def reopen(self, f: LogFile) -> bool:
        """Open a file closed while idle, if its name still leads to it."""
        try:
            fd = self.with_fds(lambda: os.open(f.path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as e:
            if not self.retry_later(e, f):
                self._tracked.rescan.add(f.cdir)
            return False
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != f.ident:
            os.close(fd)
            self._tracked.rescan.add(f.cdir)
            return False
        f.fd = fd
        f.grew_while_shed = False  # read from now on, deleted or not
        self.fd_opened()
        return True

    def fd_opened(self) -> None:
        self.opened += 1
        self._open_fds += 1
        self.stats.files_open = self._open_fds

    def close_fd(self, f: LogFile) -> None:
        if f.fd is not None:
            os.close(f.fd)
            f.fd = None
            self._open_fds -= 1
            self.stats.files_open = self._open_fds
        self._watches.unwatch(f.watch)
        f.watch = None

    def fail(self, f: LogFile, e: BaseException) -> None:
        """f cannot be read: say so once; it is skipped until it changes."""
        f.failed = True
        try:
            st = os.stat(f.path)
            f.signature = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass
        msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        self.stats.error(f.path, f"cannot read: {msg}; skipped")
