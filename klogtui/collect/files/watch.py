"""inotify watches and the event loop's plumbing: what is watched, how events become
pending work, the wake-up pipe `stop` writes to, and polling when the kernel refuses.

A directory the kernel will not watch (out of watches, or no inotify instance at all)
is listed again on a timer instead (see `Scanner.poll_unwatched`); that is said once.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import threading
from collections.abc import Callable
from typing import Any, Literal

import inotify_simple  # type: ignore[import-untyped]
from inotify_simple import INotify
from inotify_simple import flags as _in

from klogtui.collect.base import CollectorStats
from klogtui.collect.files.tracked import Tracked
from klogtui.errors import CollectorError

__all__ = [
    "CONTAINER_DIR_MASK",
    "FILE_MASK",
    "LINKS_MASK",
    "OUT_OF_FDS",
    "POD_DIR_MASK",
    "WatchKind",
    "Watches",
    "Waker",
]

POD_DIR_MASK = _in.CREATE | _in.MOVED_TO | _in.DELETE | _in.MOVED_FROM | _in.ONLYDIR
CONTAINER_DIR_MASK = (
    _in.CREATE
    | _in.MODIFY
    | _in.MOVED_TO
    | _in.MOVED_FROM
    | _in.DELETE
    | _in.ATTRIB
    | _in.DELETE_SELF
    | _in.MOVE_SELF
    | _in.ONLYDIR
)
LINKS_MASK = _in.CREATE | _in.MOVED_TO | _in.DELETE | _in.MOVED_FROM | _in.ONLYDIR
FILE_MASK = _in.MODIFY | _in.ATTRIB | _in.DELETE_SELF | _in.MOVE_SELF
# Out of file descriptors: this process's (EMFILE, `ulimit -n`) or the system's (ENFILE).
OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)

# What a watch is on: the pods/ directory, one pod's directory, one container's
# directory, containers/ (symlinks), or a file reached through a symlink.
WatchKind = Literal["pods", "pod", "cdir", "links", "file"]


class Watches:
    """The inotify instance and its watches; events turned into `Tracked` work.

    Args:
        stats: where refusals are reported.
        tracked: the work events add to.
    """

    def __init__(self, stats: CollectorStats, tracked: Tracked) -> None:
        self.stats = stats
        self._tracked = tracked
        self._inotify: Any = None  # None when the kernel would not give us one: polling
        self._inotify_error = ""  # why there is none
        self.out_of_watches = False  # a watch was refused (ENOSPC): some directories polled
        self._polling_said = False
        self._watches: dict[int, tuple[WatchKind, Any]] = {}

    @property
    def available(self) -> bool:
        """Whether there is an inotify instance (else every directory is polled)."""
        return self._inotify is not None

    def fileno(self) -> int | None:
        """The descriptor to poll for events; None without an inotify instance."""
        return None if self._inotify is None else int(self._inotify.fileno())

    def start(self) -> None:
        """Get an inotify instance, or none (then every directory is polled) when the
        kernel refuses one: out of inotify instances or of file descriptors."""
        # inotify_simple looks libc up with ctypes.util.find_library, which runs ldconfig
        # and gcc in subprocesses and needs a temporary file: short of descriptors, that
        # fails with "No usable temporary directory". libc is loaded already: use it.
        if inotify_simple._libc is None:
            inotify_simple._libc = ctypes.CDLL(None, use_errno=True)
        try:
            self._inotify = INotify()
        except OSError as e:
            if e.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
                raise
            self._inotify_error = e.strerror or str(e)
            self._inotify = None

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()

    def say_polling(self, count_polled: Callable[[], int], every_s: float) -> None:
        """Say once, with the count, that directories are polled instead of watched."""
        if self._polling_said or not (self._inotify is None or self.out_of_watches):
            return
        self._polling_said = True
        polled = count_polled()
        every = f"{every_s:g} s"
        dirs = "1 directory is" if polled == 1 else f"{polled:,} directories are"
        if self._inotify is None:
            self.stats.error(
                "inotify",
                f"cannot start ({self._inotify_error}: the limit of inotify instances, "
                "fs.inotify.max_user_instances, or of open files is reached); "
                f"{dirs} polled every {every} instead of watched",
            )
        else:
            self.stats.error(
                "inotify",
                f"out of watches (raise fs.inotify.max_user_watches); {dirs} polled "
                f"every {every} instead of watched",
            )

    def collect_events(self) -> None:
        """Turn queued inotify events into pending work (rescans, reads)."""
        if self._inotify is None:
            return
        work = self._tracked
        for ev in self._inotify.read(timeout=0):
            mask = ev.mask
            if mask & _in.Q_OVERFLOW:
                work.overflow = True
                self.stats.error("inotify", "event queue overflowed; rescanned everything")
                continue
            watch = self._watches.get(ev.wd)
            if watch is None:
                continue
            if mask & _in.IGNORED:
                del self._watches[ev.wd]
            kind, obj = watch
            if kind == "cdir":
                if mask & _in.MODIFY and ev.name:
                    f = obj.by_name.get(ev.name)
                    if f is not None:
                        f.note_growth()
                        work.to_read.add(f)
                        continue
                work.rescan.add(obj)
            elif kind == "file":
                work.to_read.add(obj)
                if mask & ~_in.MODIFY:
                    work.rescan.add(obj.cdir)
            elif kind == "pod":
                work.rescan_pods.add(obj)
            elif kind == "pods":
                if ev.name:
                    work.rescan_pods.add(os.path.join(obj, ev.name))
            elif kind == "links":
                work.links_dirty = True

    def watch(self, path: str, mask: int, kind: WatchKind, obj: Any) -> int | None:
        """Watch path; None if it cannot be (then `Scanner.poll_unwatched` lists it instead)."""
        if self._inotify is None:
            return None
        try:
            wd: int = self._inotify.add_watch(path, mask)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self.out_of_watches = True  # said once for all, by say_polling
            elif e.errno not in (errno.ENOENT, errno.ENOTDIR):
                self.stats.error(path, f"cannot watch: {e.strerror}; falling back to polling")
            return None
        self._watches[wd] = (kind, obj)
        return wd

    def unwatch(self, wd: int | None) -> None:
        if wd is None or wd not in self._watches:
            return
        del self._watches[wd]
        try:
            self._inotify.rm_watch(wd)
        except OSError:
            pass  # removed already, with its file or directory

    def is_watching(self, wd: int | None, obj: object) -> bool:
        """Whether watch wd is (still) the one on obj."""
        return wd is not None and self._watches.get(wd, ("", None))[1] is obj


class Waker:
    """The pipe that wakes the collector's thread out of its wait: `stop` is asked, or a
    pod feed told something. The thread drains it after each wait (a pipe left readable
    would end every wait at once: the loop would spin, starving the writer of the GIL)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: tuple[int, int] | None = None

    def open(self) -> None:
        """Create the pipe.

        Raises:
            CollectorError: out of file descriptors.
        """
        try:
            self._fds = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as e:
            if e.errno not in OUT_OF_FDS:
                raise
            raise CollectorError(
                f"cannot start the file collector: {e.strerror} "
                f"(ulimit -n is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]})"
            ) from e

    def fileno(self) -> int:
        """The end to poll."""
        assert self._fds is not None
        return self._fds[0]

    def drain(self) -> None:
        """Take every wake written so far (the collector's thread, after its wait)."""
        if self._fds is None:
            return
        try:
            while os.read(self._fds[0], 4096):
                pass
        except BlockingIOError:
            pass  # empty

    def wake(self) -> None:
        with self._lock:
            if self._fds is not None:
                try:
                    os.write(self._fds[1], b"x")
                except OSError:
                    pass  # the pipe is full: the thread is being woken already

    def close(self) -> None:
        with self._lock:
            if self._fds is not None:
                for fd in self._fds:
                    os.close(fd)
                self._fds = None
