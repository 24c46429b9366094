"""Tail a node's kubelet log files with inotify: backfill, follow, every line exactly once.

Layout read (FACTS.md): ``<log-dir>/pods/<ns>_<pod>_<uid>/<container>/<restart>.log``
with rotated siblings ``<restart>.log.<stamp>`` and ``.gz``, and ``<log-dir>/containers``
symlinks pointing into it. Every real file is read once, however many names lead to it.

How a file is identified. Paths change (rotation renames, gzip makes a new inode with the
same content, copytruncate copies then empties) and inode numbers are reused, so neither
a path nor an inode says what was read. What was read is a *content stream*: the bytes
that start with a given first line of a given container instance. Its identity is a hash
of the instance (namespace, pod, uid, container, restart) and the file's first line
(capped at 1 KiB). All files holding that content share one stream and one read offset:

- rename rotation keeps the inode, so nothing changes;
- ``x.log.<stamp>.gz`` decompresses to the same first line: it joins the stream of the
  file it was made from and is read only from where that file stopped;
- a copytruncate copy joins the original's stream; the truncated original gets new
  first bytes, hence a new stream read from offset 0;
- a file whose first bytes change under the same inode (truncated and rewritten, or an
  inode reused while we were stopped) is a new stream: read from 0.

Checkpoints are keyed ``file:<hash>`` and hold the offset, the line decoder's pending
partial fragments and the source; they are committed in the same transaction as the
lines (see klogtui.store.writer), so a kill -9 rolls both back together. A stream's
checkpoint is deleted once no file holds its content any more.

Threading: one thread reads inotify events and files and hands `Batch`es to the sink;
the sink's submit blocks when the writer is behind, which slows reading (back-pressure)
instead of growing a queue. If inotify events are dropped meanwhile (queue overflow),
everything is rescanned.
"""

from __future__ import annotations

import ctypes
import errno
import gzip
import hashlib
import heapq
import json
import os
import resource
import select
import stat
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import inotify_simple  # type: ignore[import-untyped]
from inotify_simple import INotify
from inotify_simple import flags as _in

from klogtui.collect.base import CollectorStats
from klogtui.errors import CollectorError
from klogtui.formats import LineDecoder
from klogtui.model import Batch, Flag, Record, Sink, SourceInfo, SourceKey
from klogtui.paths import PodLogPath, parse_container_link_name, parse_pod_log_path

__all__ = ["CHECKPOINT_PREFIX", "FileCollector", "Tuning", "check_log_dir", "default_node_name"]

CHECKPOINT_PREFIX = "file:"
# Bytes read per system call: few calls, and a batch stays small enough that the
# writer's bounded queue (back-pressure) holds a bounded amount of memory.
_CHUNK = 256 << 10
_TURN_CHUNKS = 32  # chunks read from one file before the others get a turn
_HEAD_MAX = 1024  # a file's identity covers its first line, at most this many bytes
_LONG_LINE_MAX = 8 << 20  # a line without "\n" this long is cut into records of this size

_POD_DIR_MASK = _in.CREATE | _in.MOVED_TO | _in.DELETE | _in.MOVED_FROM | _in.ONLYDIR
_CONTAINER_DIR_MASK = (
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
_LINKS_MASK = _in.CREATE | _in.MOVED_TO | _in.DELETE | _in.MOVED_FROM | _in.ONLYDIR
_FILE_MASK = _in.MODIFY | _in.ATTRIB | _in.DELETE_SELF | _in.MOVE_SELF
_RESCAN_EVENTS = (
    _in.CREATE | _in.MOVED_TO | _in.MOVED_FROM | _in.DELETE | _in.ATTRIB | _in.DELETE_SELF
)
_DIR_GONE_EVENTS = _in.DELETE_SELF | _in.MOVE_SELF | _in.IGNORED
# Out of file descriptors: this process's (EMFILE, `ulimit -n`) or the system's (ENFILE).
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Tuning:
    """Timings and sizes of the file collector (the defaults suit a node; tests shrink them).

    Attributes:
        batch_lines: hand a batch to the sink once it holds this many lines.
        batch_interval_s: ... or once its oldest line waited this long.
        partial_grace_s: a partial line (CRI ``P`` fragments without their ``F``, or the
            unterminated end of a finished file) quiet this long is stored, flagged
            UNTERMINATED.
        release_s: a deleted file is kept open this long after its last growth (a
            writer may still be finishing), then read to its end and closed.
        idle_close_s: a fully read file that no container writes any more (rotated, or
            of an earlier restart) is closed after this long without growth.
        poll_interval_s: open files' sizes are checked this often, in case an inotify
            event was missed (network and overlay file systems).
        rescan_interval_s: every directory is listed again this often.
        unwatched_scan_s: a directory without an inotify watch (the kernel's limit of
            watches or of inotify instances was reached) is listed again this often,
            and its files are looked at for growth: polling stands in for its events.
        orphan_grace_s: a content stream whose files all vanished keeps its checkpoint
            this long, so a copy that shows up late (copytruncate) continues it.
    """

    batch_lines: int = 4096
    batch_interval_s: float = 0.05
    partial_grace_s: float = 5.0
    release_s: float = 1.0
    idle_close_s: float = 30.0
    poll_interval_s: float = 2.0
    rescan_interval_s: float = 30.0
    orphan_grace_s: float = 5.0
    unwatched_scan_s: float = 1.0


def check_log_dir(log_dir: Path) -> None:
    """Fail with one line when `log_dir` holds no kubelet logs.

    Raises:
        CollectorError: neither ``pods/`` nor ``containers/`` is a directory in log_dir.
    """
    if not (log_dir / "pods").is_dir() and not (log_dir / "containers").is_dir():
        raise CollectorError(
            f"no kubelet logs in {log_dir} (no pods/ or containers/ directory): "
            "use --demo for a synthetic cluster, or --kubeconfig to read a cluster's API"
        )


def default_node_name() -> str:
    """The node these files belong to: $NODE_NAME (set in a DaemonSet), else the host name."""
    return os.environ.get("NODE_NAME") or os.uname().nodename


class _Stream:
    """One content stream: the bytes starting with a given first line, read once."""

    __slots__ = (
        "decoder",
        "key",
        "label",
        "last_growth",
        "malformed_seen",
        "members",
        "offset",
        "orphan_since",
        "path",
        "source",
        "tail",
    )

    def __init__(self, key: str, source: SourceKey, path: str) -> None:
        self.key = key
        self.source = source
        self.label = str(source)
        self.path = path
        self.offset = 0  # bytes consumed, up to the end of the last complete line
        self.tail = 0  # bytes seen past offset that do not end a line yet
        self.decoder = LineDecoder()
        self.malformed_seen = 0
        self.members: set[_File] = set()
        self.last_growth = time.monotonic()
        self.orphan_since = 0.0

    def checkpoint(self) -> str:
        s = self.source
        return json.dumps(
            {
                "offset": self.offset,
                "path": self.path,
                "decoder": self.decoder.state(),
                "namespace": s.namespace,
                "pod": s.pod,
                "pod_uid": s.pod_uid,
                "container": s.container,
                "restart": s.restart,
            },
            separators=(",", ":"),
        )


class _File:
    """One physical file (device, inode) found in a container directory."""

    __slots__ = (
        "cdir",
        "compressed",
        "done",
        "failed",
        "fd",
        "gone",
        "grew_while_shed",
        "head",
        "ident",
        "info",
        "last_growth",
        "name",
        "shed",
        "signature",
        "size_seen",
        "stream",
        "watch",
    )

    def __init__(self, ident: tuple[int, int], cdir: _Dir, name: str, info: PodLogPath) -> None:
        self.ident = ident
        self.cdir = cdir
        self.name = name
        self.info = info
        self.compressed = info.compressed
        self.fd: int | None = None
        self.watch: int | None = None  # a watch of its own when the name is a symlink
        self.head: bytes | None = None  # the first line, once written
        self.stream: _Stream | None = None
        self.signature: tuple[int, int] = (-1, -1)  # (size, mtime) when it last failed
        self.size_seen = 0  # its size when last read to the end
        self.done = False  # a .gz read to its end
        self.failed = False  # unreadable: reported once, skipped until it changes
        self.gone = False  # no name leads to it any more
        self.last_growth = time.monotonic()
        self.shed = False  # closed for want of file descriptors, though still written
        self.grew_while_shed = False  # ... and written to since: bytes only its name holds

    @property
    def path(self) -> str:
        return os.path.join(self.cdir.path, self.name)

    def order(self) -> tuple[str, int, int, str, bool]:
        """Oldest content first: by restart, rotated siblings by stamp, then the live file."""
        i = self.info
        rotated = i.rotated_stamp
        return (self.cdir.path, i.restart, 0 if rotated else 1, rotated or "", i.compressed)


class _Dir:
    """A container directory: ``pods/<ns>_<pod>_<uid>/<container>``."""

    __slots__ = ("by_name", "gone", "keys", "max_restart", "path", "pod_path", "real", "wd")

    def __init__(self, path: str, real: str) -> None:
        self.path = path
        self.real = real
        self.pod_path = os.path.dirname(path)
        self.wd: int | None = None
        self.by_name: dict[str, _File] = {}
        self.keys: set[SourceKey] = set()
        self.max_restart = -1
        self.gone = False


def _saved_source(saved: Mapping[str, Any]) -> SourceKey | None:
    try:
        return SourceKey(
            str(saved["namespace"]),
            str(saved["pod"]),
            str(saved["container"]),
            int(saved["restart"]),
            str(saved["pod_uid"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


class FileCollector:
    """Collects every line of a node's kubelet log files into a sink, exactly once.

    Args:
        log_dir: the directory holding ``pods/`` and/or ``containers/`` (e.g. /var/log).
        sink: where batches go (the store's writer).
        stats: counters shared with the UI.
        checkpoints: committed checkpoints (``store.load_checkpoints(CHECKPOINT_PREFIX)``).
        node: node name stored with each source (default: `default_node_name`).
        tuning: timings and sizes.
        namespaces: collect only these namespaces' pods (empty: all); the others' files
            are never opened or watched.
        since_ns: store only lines stamped at or after this time (UTC ns); files written
            to last before it are not read at all.

    Raises:
        CollectorError: log_dir holds no kubelet logs.
    """

    def __init__(
        self,
        log_dir: Path,
        sink: Sink,
        stats: CollectorStats,
        *,
        checkpoints: Mapping[str, str] | None = None,
        node: str | None = None,
        tuning: Tuning | None = None,
        namespaces: Collection[str] = (),
        since_ns: int | None = None,
    ) -> None:
        log_dir = Path(log_dir)
        check_log_dir(log_dir)
        self.log_dir = log_dir
        self.sink = sink
        self.stats = stats
        self.node = node or default_node_name()
        self.tuning = tuning or Tuning()
        self._namespaces = frozenset(namespaces)
        self._since_ns = since_ns or 0
        self.failure: BaseException | None = None  # why the thread stopped early, if it did
        self.files_total = 0  # files found at start (backfill progress)
        self.files_done = 0
        self._pods_path = str(log_dir / "pods")
        self._links_path = str(log_dir / "containers")
        self._saved: dict[str, dict[str, Any]] = {}
        for key, value in (checkpoints or {}).items():
            if not key.startswith(CHECKPOINT_PREFIX):
                continue
            try:
                saved = json.loads(value)
                int(saved["offset"])
            except (ValueError, KeyError, TypeError):
                stats.error(f"checkpoint {key}", "unreadable checkpoint ignored")
                continue
            self._saved[key] = saved

        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_lock = threading.Lock()
        self._wake: tuple[int, int] | None = None
        self._inotify: Any = None  # None when the kernel would not give us one: polling
        self._inotify_error = ""  # why there is none
        self._out_of_watches = False  # a watch was refused (ENOSPC): some directories polled
        self._polling_said = False
        # Out of file descriptors: what could not be opened or listed is tried again by
        # a full scan at the next polling round, after the files read are closed.
        self._fds_said = False
        self._retry_scan = False
        self._retry_files: set[_File] = set()  # tracked, but their read could not open them
        self._opened = 0  # files opened so far (progress while retrying)

        self._watches: dict[int, tuple[str, Any]] = {}
        self._pod_dirs: dict[str, int | None] = {}
        self._links_wd: int | None = None
        self._dirs: dict[str, _Dir] = {}
        self._files: dict[tuple[int, int], _File] = {}
        self._streams: dict[str, _Stream] = {}
        self._closing: set[_File] = set()
        self._unsettled: set[_Stream] = set()
        self._orphans: set[_Stream] = set()
        self._keys: dict[SourceKey, SourceKey] = {}
        self._states: dict[SourceKey, str] = {}
        self._container_ids: dict[SourceKey, str] = {}
        # Sources that only a checkpoint of a past run names (no file of theirs found), by
        # pod directory: marked deleted when a listing finds that directory gone.
        self._unseen: dict[str, set[SourceKey]] = {}
        self._open_fds = 0

        # Work found in events, done after each read of the event queue.
        self._overflow = False
        self._links_dirty = False
        self._rescan_pods: set[str] = set()
        self._rescan: set[_Dir] = set()
        self._dangling: set[_Dir] = set()  # directories with a log name that is a broken link
        self._to_read: set[_File] = set()

        # The batch being filled.
        self._records: list[Record] = []
        self._dirty: dict[str, _Stream] = {}
        self._deleted: set[str] = set()
        self._infos: list[SourceInfo] = []
        self._batch_since = 0.0

    # -- Collector protocol -------------------------------------------------------------

    def start(self) -> None:
        """Start the collector thread: backfill what exists, then follow."""
        try:
            self._wake = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as e:
            if e.errno not in _OUT_OF_FDS:
                raise
            raise CollectorError(
                f"cannot start the file collector: {e.strerror} "
                f"(ulimit -n is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]})"
            ) from e
        self._thread = threading.Thread(target=self._run, name="klogtui-files", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to hand over its batch and end.

        Partial lines still waiting for their end are not stored: the checkpoints keep
        them, and the next run completes them.
        """
        self._stop.set()
        with self._wake_lock:
            if self._wake is not None:
                try:
                    os.write(self._wake[1], b"x")
                except OSError:
                    pass  # the pipe is full: the thread is being woken already

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def caught_up(self) -> bool:
        """True once every file present at start was read to its end and handed over."""
        return self._caught_up.is_set()

    # -- thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._inotify = self._start_inotify()
            self._backfill()
            if not self._stop.is_set():
                self._submit()
                if not self._retry_scan:
                    self._caught_up.set()
                self._follow()
            self._submit()
        except BaseException as e:  # noqa: BLE001 - kept for the runner, which reports it
            # The half-filled batch is dropped: neither its lines nor their offsets were
            # committed, so a restart reads them again. Nothing is lost or doubled.
            self.failure = e
            self.stats.error("file collector", f"stopped: {e!r}")
        finally:
            self._close_everything()

    def _close_everything(self) -> None:
        for f in list(self._files.values()) + list(self._closing):
            self._close_fd(f)
        if self._inotify is not None:
            self._inotify.close()
        with self._wake_lock:
            if self._wake is not None:
                for fd in self._wake:
                    os.close(fd)
                self._wake = None

    def _start_inotify(self) -> Any:
        """An inotify instance, or None (then every directory is polled) when the kernel
        refuses one: out of inotify instances or of file descriptors."""
        # inotify_simple looks libc up with ctypes.util.find_library, which runs ldconfig
        # and gcc in subprocesses and needs a temporary file: short of descriptors, that
        # fails with "No usable temporary directory". libc is loaded already: use it.
        if inotify_simple._libc is None:
            inotify_simple._libc = ctypes.CDLL(None, use_errno=True)
        try:
            return INotify()
        except OSError as e:
            if e.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
                raise
            self._inotify_error = e.strerror or str(e)
            return None

    def _say_polling(self) -> None:
        """Say once, with the count, that directories are polled instead of watched."""
        if self._polling_said or not (self._inotify is None or self._out_of_watches):
            return
        self._polling_said = True
        polled = len(self._unwatched_dirs()) + sum(
            1 for pod, wd in self._pod_dirs.items() if wd is None and pod != self._pods_path
        )
        every = f"{self.tuning.unwatched_scan_s:g} s"
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

    def _backfill(self) -> None:
        """Read everything present: each container's files oldest first, and the
        containers side by side in time order, a chunk at a time.

        The store keeps rows in time order. Fed container after container, every
        insert lands somewhere else in the table and ingest runs at half speed
        (measured on 1M lines over 58 files); interleaved by time, inserts append.
        """
        self._scan_all()
        pending = sorted(self._files.values(), key=_File.order)
        self.files_total = len(pending)
        queues: dict[str, deque[_File]] = {}
        for f in pending:
            queues.setdefault(f.cdir.path, deque()).append(f)
        # (timestamp of the last line read, tiebreak, that container's files)
        heap = [(0, i, q) for i, q in enumerate(queues.values())]
        while heap and not self._stop.is_set():
            last_ts, i, q = heapq.heappop(heap)
            f = q[0]
            if f.gone or not self._read(f, turns=1):
                q.popleft()
                self.files_done += 1
            if q:
                records = self._records
                if records and f.stream is not None and records[-1].source == f.stream.source:
                    last_ts = records[-1].ts
                heapq.heappush(heap, (last_ts, i, q))
            # Keep the event queue short during a long backfill; the work waits.
            self._collect_events()
            self._submit_if_due()
        self._read_what_could_not_be_opened()
        self._forget_unclaimed_checkpoints()
        self._say_polling()

    def _read_what_could_not_be_opened(self) -> None:
        """Out of file descriptors during the backfill: close the files read, open the
        next ones, read them; again while that makes progress (then `_follow` goes on)."""
        while self._retry_scan and not self._stop.is_set():
            opened = self._opened
            self._retry()
            self._do_pending()
            self._submit_if_due()
            if self._opened == opened:
                break

    # -- out of file descriptors ----------------------------------------------------------

    def _with_fds(self, op: Callable[[], _T]) -> _T:
        """op(); if it ran out of file descriptors, once more after closing idle files.

        Raises:
            OSError: what op raised the second time (or the first, for other errors).
        """
        try:
            return op()
        except OSError as e:
            if e.errno not in _OUT_OF_FDS:
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
        self._shed_idle_fds()

    def _retry_later(self, e: OSError, f: _File | None = None) -> bool:
        """Whether e is a shortage of descriptors: then a later scan tries again (and
        reads f again)."""
        if e.errno not in _OUT_OF_FDS:
            return False
        self._retry_scan = True
        if f is not None:
            self._retry_files.add(f)
        return True

    def _retry(self) -> None:
        """Try again what could not be opened for want of descriptors."""
        self._retry_scan = False
        self._shed_idle_fds()
        self._scan_all()
        files, self._retry_files = self._retry_files, set()
        self._to_read.update(f for f in files if not f.gone)

    def _shed_idle_fds(self) -> None:
        """Close every file read to its end that a name still leads to: it is reopened
        when it grows, as files closed while idle are. Deleted files, and files holding
        a partial line, stay open: their bytes would be lost with the descriptor."""
        for f in list(self._files.values()):
            st = f.stream
            if (
                f.fd is None
                or st is None
                or f.watch is not None
                or f in self._closing
                or st.tail
                or st.decoder.pending
            ):
                continue
            try:
                fst = os.fstat(f.fd)
            except OSError:
                continue
            if fst.st_nlink and fst.st_size == f.size_seen:
                self._close_fd(f)
                f.shed = True

    def _note_growth(self, f: _File) -> None:
        if f.fd is None and f.shed:
            f.grew_while_shed = True

    def _follow(self) -> None:
        t = self.tuning
        assert self._wake is not None
        poller = select.poll()
        if self._inotify is not None:
            poller.register(self._inotify.fileno(), select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        now = time.monotonic()
        next_settle = now + 0.25
        next_poll = now + t.poll_interval_s
        next_rescan = now + t.rescan_interval_s
        next_unwatched = now + t.unwatched_scan_s
        while not self._stop.is_set():
            wait = min(next_settle, next_poll, next_rescan, next_unwatched) - time.monotonic()
            if self._batch_since:
                wait = min(wait, self._batch_since + t.batch_interval_s - time.monotonic())
            if self._to_read or self._rescan:
                wait = -1.0  # work left over from the last round (a busy file's next turn)
            poller.poll(max(0, int(wait * 1000) + 1) if wait >= 0 else 0)
            if self._stop.is_set():
                break
            self._collect_events()
            now = time.monotonic()
            if now >= next_rescan:
                self._scan_all()
                next_rescan = now + t.rescan_interval_s
            if now >= next_poll:
                self._poll_sizes()
                next_poll = now + t.poll_interval_s
            if now >= next_unwatched:
                if self._retry_scan:
                    self._retry()
                self._poll_unwatched()
                # Said after a round of polling, so the count covers a burst of new pods.
                self._say_polling()
                next_unwatched = now + t.unwatched_scan_s
            self._do_pending()
            if not self._caught_up.is_set() and not self._retry_scan and not self._to_read:
                self._submit()
                self._caught_up.set()  # what could not be opened at first is read now
            if now >= next_settle:
                self._settle(now)
                next_settle = now + 0.25
            self._submit_if_due()

    # -- inotify events -------------------------------------------------------------------

    def _collect_events(self) -> None:
        """Turn queued inotify events into pending work (rescans, reads)."""
        if self._inotify is None:
            return
        for ev in self._inotify.read(timeout=0):
            mask = ev.mask
            if mask & _in.Q_OVERFLOW:
                self._overflow = True
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
                        self._note_growth(f)
                        self._to_read.add(f)
                        continue
                self._rescan.add(obj)
            elif kind == "file":
                self._to_read.add(obj)
                if mask & ~_in.MODIFY:
                    self._rescan.add(obj.cdir)
            elif kind == "pod":
                self._rescan_pods.add(obj)
            elif kind == "pods":
                if ev.name:
                    self._rescan_pods.add(os.path.join(self._pods_path, ev.name))
            elif kind == "links":
                self._links_dirty = True

    def _do_pending(self) -> None:
        if self._overflow:
            self._overflow = False
            self._scan_all()
            self._to_read.update(self._files.values())
        if self._rescan_pods:
            pods, self._rescan_pods = self._rescan_pods, set()
            for pod in sorted(pods):
                self._scan_pod(pod)
        if self._links_dirty:
            self._links_dirty = False
            self._scan_links()
        while self._rescan:
            dirs, self._rescan = self._rescan, set()
            for d in dirs:
                self._scan_dir(d)
        if self._to_read:
            files, self._to_read = self._to_read, set()
            for f in sorted(files, key=_File.order):
                if not f.gone or f in self._closing:
                    self._read(f)

    # -- directories ----------------------------------------------------------------------

    def _watch(self, path: str, mask: int, kind: str, obj: Any) -> int | None:
        """Watch path; None if it cannot be (then `_poll_unwatched` lists it instead)."""
        if self._inotify is None:
            return None
        try:
            wd: int = self._inotify.add_watch(path, mask)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self._out_of_watches = True  # said once for all, by _say_polling
            elif e.errno not in (errno.ENOENT, errno.ENOTDIR):
                self.stats.error(path, f"cannot watch: {e.strerror}; falling back to polling")
            return None
        self._watches[wd] = (kind, obj)
        return wd

    def _unwatch(self, wd: int | None) -> None:
        if wd is None or wd not in self._watches:
            return
        del self._watches[wd]
        try:
            self._inotify.rm_watch(wd)
        except OSError:
            pass  # removed already, with its file or directory

    def _scan_all(self) -> None:
        """(Re)list everything. Watches come before listings: nothing slips between."""
        if self._pod_dirs.get(self._pods_path) is None and os.path.isdir(self._pods_path):
            self._pod_dirs[self._pods_path] = self._watch(
                self._pods_path, _POD_DIR_MASK, "pods", self._pods_path
            )
        if self._links_wd is None and os.path.isdir(self._links_path):
            self._links_wd = self._watch(self._links_path, _LINKS_MASK, "links", None)
        try:
            listed = {
                os.path.join(self._pods_path, n)
                for n in self._with_fds(lambda: os.listdir(self._pods_path))
            }
        except OSError as e:
            self._retry_later(e)
            listed = set()
        for pod in sorted(listed | (self._pod_dirs.keys() - {self._pods_path})):
            self._scan_pod(pod)
        self._scan_links()
        for d in list(self._dirs.values()):
            self._scan_dir(d)

    def _excluded(self, namespace: str) -> bool:
        return bool(self._namespaces) and namespace not in self._namespaces

    def _scan_pod(self, pod: str) -> None:
        """A pod directory appeared, changed or vanished."""
        if self._excluded(os.path.basename(pod).split("_", 1)[0]):
            return  # ``<ns>_<pod>_<uid>`` of a namespace not asked for: not even watched
        if self._pod_dirs.get(pod) is None and os.path.isdir(pod):
            # New, or its watch was refused before: (try to) watch it, then list it.
            self._pod_dirs[pod] = self._watch(pod, _POD_DIR_MASK, "pod", pod)
        try:
            names = set(self._with_fds(lambda: os.listdir(pod)))
        except OSError as e:
            if self._retry_later(e):
                return  # it is there: only we cannot look
            if pod in self._pod_dirs:
                self._unwatch(self._pod_dirs.pop(pod))
            names = set()
            if isinstance(e, (FileNotFoundError, NotADirectoryError)):
                self._pod_gone(pod)
        for name in sorted(names):
            path = os.path.join(pod, name)
            if os.path.isdir(path):
                self._add_dir(path)
        for d in [d for d in self._dirs.values() if d.pod_path == pod]:
            if os.path.basename(d.path) not in names:
                self._scan_dir(d)

    def _pod_gone(self, pod: str) -> None:
        """Mark deleted the sources of a vanished pod that no file of ours stands for
        (those that had one are marked by `_dir_gone`)."""
        for key in sorted(self._unseen.pop(pod, ()), key=str):
            self._note_state(key, "deleted")

    def _add_dir(self, path: str) -> _Dir:
        # Known by its real path (two names may lead to it); named by the path found,
        # since only that has the pods/<ns>_<pod>_<uid>/<container> shape to parse.
        real = os.path.realpath(path)
        d = self._dirs.get(real)
        if d is None:
            d = self._dirs[real] = _Dir(path, real)
            d.wd = self._watch(path, _CONTAINER_DIR_MASK, "cdir", d)
            self._scan_dir(d)
        elif not self._watched(d):
            self._rewatch(d)
        return d

    def _watched(self, d: _Dir) -> bool:
        return d.wd is not None and self._watches.get(d.wd, ("", None))[1] is d

    def _rewatch(self, d: _Dir) -> None:
        """Its watch was refused (out of watches) or dropped by the kernel: try again."""
        d.wd = self._watch(d.path, _CONTAINER_DIR_MASK, "cdir", d)
        if d.wd is not None:
            self._rescan.add(d)  # what changed before the watch: list it once more

    def _unwatched_dirs(self) -> list[_Dir]:
        return [d for d in self._dirs.values() if not self._watched(d)]

    def _poll_unwatched(self) -> None:
        """Stand in for the events of directories without a watch: list them again and
        look for growth in their files, so a pod that comes and goes between two full
        rescans is still read."""
        if self._inotify is None or (
            self._pod_dirs.get(self._pods_path) is None and os.path.isdir(self._pods_path)
        ):
            self._scan_all()
            dirs = list(self._dirs.values())
        else:
            for pod, wd in list(self._pod_dirs.items()):
                if wd is None:
                    self._scan_pod(pod)
            if self._links_wd is None:
                self._scan_links()
            dirs = self._unwatched_dirs()
            for d in dirs:
                self._rewatch(d)
                self._scan_dir(d)
        for d in dirs:
            self._to_read.update(f for f in d.by_name.values() if f.fd is not None)

    def _scan_links(self) -> None:
        """containers/ symlinks: container ids for the sources, and container
        directories outside our pods/ (a file reached twice is still read once)."""
        try:
            names = sorted(self._with_fds(lambda: os.listdir(self._links_path)))
        except OSError as e:
            self._retry_later(e)
            return
        for name in names:
            link = parse_container_link_name(name)
            if link is None:
                continue
            path = os.path.join(self._links_path, name)
            try:
                target = os.path.normpath(os.path.join(self._links_path, os.readlink(path)))
            except OSError:
                continue  # vanished, or not a symlink: nothing to follow
            info = parse_pod_log_path(target)
            if info is None:
                target = os.path.realpath(path)
                info = parse_pod_log_path(target)
            if info is None:
                self.stats.error(path, "symlink does not lead to a kubelet pod log; skipped")
                continue
            if self._excluded(info.namespace):
                continue
            if not os.path.exists(target):
                continue
            self._add_dir(os.path.dirname(target))
            key = self._key(info)
            if self._container_ids.get(key) != link.container_id:
                self._container_ids[key] = link.container_id
                if key in self._states:
                    self._touch()
                    self._infos.append(SourceInfo(key, container_id=link.container_id))

    def _scan_dir(self, d: _Dir) -> None:
        """List a container directory and reconcile its files with those tracked."""
        try:
            names: list[str] | None = sorted(self._with_fds(lambda: os.listdir(d.path)))
        except (FileNotFoundError, NotADirectoryError):
            names = None
        except OSError as e:
            if not self._retry_later(e):
                self.stats.error(d.path, f"cannot list: {e.strerror}")
            return
        present: dict[str, _File] = {}
        for name in names or ():
            if name.endswith(".tmp"):
                continue  # kubelet's gzip in progress: it becomes .gz by a rename
            info = parse_pod_log_path(os.path.join(d.path, name))
            if info is None:
                continue
            f = self._track(d, name, info)
            if f is not None:
                present[name] = f
        kept = set(present.values())
        for f in list(d.by_name.values()):
            if f not in kept:
                self._gone(f)
        d.by_name = present
        if names is None:
            self._dir_gone(d)
            return
        d.max_restart = max((f.info.restart for f in kept), default=d.max_restart)
        for f in kept:
            key = self._key(f.info)
            d.keys.add(key)
            self._note_state(key, "running" if f.info.restart >= d.max_restart else "terminated")

    def _dir_gone(self, d: _Dir) -> None:
        d.gone = True
        if self._dirs.get(d.real) is d:
            del self._dirs[d.real]
        self._unwatch(d.wd)
        for key in sorted(d.keys, key=str):
            self._note_state(key, "deleted")

    def _note_state(self, key: SourceKey, state: str) -> None:
        old = self._states.get(key)
        if old == state:
            return
        self._states[key] = state
        self._touch()
        self._infos.append(
            SourceInfo(
                key,
                container_id=self._container_ids.get(key) if old is None else None,
                node=self.node if old is None else None,
                state=state,
            )
        )

    def _key(self, info: PodLogPath) -> SourceKey:
        k = SourceKey(info.namespace, info.pod, info.container, info.restart, info.pod_uid)
        # One object per source: the writer compares keys by identity on its fast path.
        return self._keys.setdefault(k, k)

    # -- files ----------------------------------------------------------------------------

    def _track(self, d: _Dir, name: str, info: PodLogPath) -> _File | None:
        """The tracked file behind d/name, tracking it first if it is new."""
        path = os.path.join(d.path, name)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if os.path.islink(path):
                # Docker rotates the json log a pods/ link leads to by renaming it: no
                # event of ours says when the new target appears, so look again.
                self._dangling.add(d)
            return None
        except OSError as e:
            self.stats.error(path, f"cannot read: {e.strerror}; skipped")
            return None
        if not stat.S_ISREG(st.st_mode):
            self.stats.error(path, "not a regular file; skipped")
            return None
        if (
            st.st_mtime_ns < self._since_ns
            and (info.compressed or info.rotated_stamp is not None)
            and (st.st_dev, st.st_ino) not in self._files
        ):
            return None  # rotated before --since: every line in it is older
        f = self._files.get((st.st_dev, st.st_ino))
        if f is not None and not self._still_same(f, path):
            # The inode number was freed and given to a new file: the old one is gone.
            self._gone(f)
            f = None
        if f is None:
            f = _File((st.st_dev, st.st_ino), d, name, info)
            if not self._open(f, path):
                return None
            self._files[f.ident] = f
            self._to_read.add(f)
            return f
        f.cdir, f.name, f.info = d, name, info
        if f.failed and (st.st_size, st.st_mtime_ns) != f.signature:
            f.failed = False  # it changed (chmod, rewritten): try again
            self.stats.forget_errors(path)
        if f.stream is None or (f.fd is None and not f.compressed and st.st_size != f.size_seen):
            self._note_growth(f)
            self._to_read.add(f)
        return f

    def _still_same(self, f: _File, path: str) -> bool:
        """Whether a tracked file is the one now at its inode number (not a reuse)."""
        if f.fd is not None:
            return os.fstat(f.fd).st_nlink > 0  # ours was deleted if it has no name left
        if f.head is None:
            return True
        head = f.head
        try:
            if f.compressed:
                return self._with_fds(lambda: _read_head(path, True)) == head
            with self._with_fds(lambda: open(path, "rb")) as fh:
                # Its first bytes, as reads check them: a head can also be the whole
                # unterminated content of a finished file (see _identify).
                return fh.read(len(head)) == head
        except OSError as e:
            # Out of descriptors: say it is, the next scan looks again. Tracked anew
            # otherwise: harmless, its content decides.
            return e.errno in _OUT_OF_FDS
        except (EOFError, zlib.error):
            return False

    def _open(self, f: _File, path: str) -> bool:
        if f.compressed:
            self._identify(f)
            return True
        try:
            fd = self._with_fds(lambda: os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except FileNotFoundError:
            return False
        except OSError as e:
            if not self._retry_later(e):
                self.stats.error(path, f"cannot open: {e.strerror}; skipped")
            return False
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != f.ident:
            os.close(fd)  # replaced between stat and open: the next rescan finds the new one
            self._rescan.add(f.cdir)
            return False
        f.fd = fd
        self._fd_opened()
        if os.path.islink(path):
            # The directory's watch misses writes to a symlink's target: watch the target.
            f.watch = self._watch(path, _FILE_MASK, "file", f)
        self._identify(f)
        return True

    def _reopen(self, f: _File) -> bool:
        """Open a file closed while idle, if its name still leads to it."""
        try:
            fd = self._with_fds(lambda: os.open(f.path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as e:
            if not self._retry_later(e, f):
                self._rescan.add(f.cdir)
            return False
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != f.ident:
            os.close(fd)
            self._rescan.add(f.cdir)
            return False
        f.fd = fd
        f.grew_while_shed = False  # read from now on, deleted or not
        self._fd_opened()
        return True

    def _fd_opened(self) -> None:
        self._opened += 1
        self._open_fds += 1
        self.stats.files_open = self._open_fds

    def _close_fd(self, f: _File) -> None:
        if f.fd is not None:
            os.close(f.fd)
            f.fd = None
            self._open_fds -= 1
            self.stats.files_open = self._open_fds
        self._unwatch(f.watch)
        f.watch = None

    def _identify(self, f: _File, finished: bool = False) -> None:
        """Attach a file to the content stream its first line names (once it has one).

        A `finished` file (deleted, or no longer written) whose whole content is one
        short unterminated line is named by that content: it is all there will be.
        """
        try:
            if f.compressed:
                head = self._with_fds(lambda: _read_head(f.path, True))
            elif f.fd is not None:
                data = os.pread(f.fd, _HEAD_MAX, 0)
                head = _head(data) or (data if finished and data else None)
            else:
                return
        except (OSError, EOFError, zlib.error) as e:
            if not (isinstance(e, OSError) and self._retry_later(e, f)):
                self._fail(f, e)
            return
        if f.compressed:
            self._opened += 1
        if head is None:
            return
        i = f.info
        ident = f"{i.namespace}\0{i.pod}\0{i.pod_uid}\0{i.container}\0{i.restart}\0"
        key = CHECKPOINT_PREFIX + hashlib.blake2b(ident.encode() + head, digest_size=16).hexdigest()
        st = self._streams.get(key)
        if st is None:
            st = self._streams[key] = _Stream(key, self._key(i), f.path)
            self._deleted.discard(key)
            saved = self._saved.pop(key, None)
            if saved is not None:
                st.offset = int(saved["offset"])
                try:
                    st.decoder.restore(saved["decoder"])
                except (KeyError, ValueError):
                    self.stats.error(f.path, "checkpoint's partial-line state unreadable; dropped")
            elif self._since_ns and f.fd is not None:
                st.offset = _end_if_older(f.fd, self._since_ns)
        f.head = head
        f.stream = st
        st.members.add(f)
        self._orphans.discard(st)

    def _detach(self, f: _File) -> None:
        """The file no longer holds its stream's content (truncated, rewritten)."""
        st = f.stream
        f.stream = None
        f.head = None
        f.size_seen = 0
        if st is not None:
            st.members.discard(f)
            self._orphan_check(st)

    def _orphan_check(self, st: _Stream) -> None:
        if st.members:
            if all(m.compressed for m in st.members):
                # Only compressed copies are left: they go on from where the
                # uncompressed file stopped.
                self._to_read.update(st.members)
            return
        st.orphan_since = time.monotonic()
        self._orphans.add(st)

    def _fail(self, f: _File, e: BaseException) -> None:
        f.failed = True
        try:
            st = os.stat(f.path)
            f.signature = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass
        msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        self.stats.error(f.path, f"cannot read: {msg}; skipped")

    def _gone(self, f: _File) -> None:
        """No name leads to this file any more: drain it, release it once quiet."""
        if f.gone:
            return
        f.gone = True
        if f.fd is None and f.grew_while_shed:
            # Loss we could not prevent (no descriptor to keep its bytes): said once.
            self.stats.error(
                "file descriptors",
                "files closed for want of descriptors were deleted before their last "
                "lines could be read: those lines are lost (raise ulimit -n)",
            )
        if self._files.get(f.ident) is f:
            del self._files[f.ident]
        if f.cdir.by_name.get(f.name) is f:
            del f.cdir.by_name[f.name]
        if f.fd is not None and f.stream is not None:
            self._read(f, to_end=True)
            f.last_growth = time.monotonic()
            self._closing.add(f)
        else:
            self._release(f)

    def _release(self, f: _File) -> None:
        """Read a gone file to its end, store its unfinished end if it was the last copy
        of its content, and close it."""
        self._closing.discard(f)
        if f.fd is not None and f.stream is None and not f.failed:
            self._identify(f, finished=True)
        if f.fd is not None and f.stream is not None:
            self._read(f, to_end=True)
            st = f.stream
            if st is not None and st.members == {f} and (st.tail or st.decoder.pending):
                self._finish_stream(st, f)
        self._close_fd(f)
        left = f.stream
        if left is not None:
            left.members.discard(f)
            self._orphan_check(left)

    # -- reading --------------------------------------------------------------------------

    def _read(self, f: _File, to_end: bool = False, turns: int | None = None) -> bool:
        """Read what this file holds beyond its stream's offset.

        Args:
            f: the file.
            to_end: read to its end now, even if it is busy (it is being released).
            turns: read at most this many chunks (backfill interleaving).

        Returns:
            True if the file has more to read after a limited turn.
        """
        if f.failed:
            return False
        if f.fd is None and not f.compressed and not self._reopen(f):
            return False
        if f.stream is None:
            self._identify(f)
            if f.stream is None:
                return False
        if f.compressed:
            self._read_gz(f)
            return False
        if turns is None:
            self._read_plain(f, to_end or not self._caught_up.is_set())
            return False
        self._read_plain(f, False, turns)
        if f in self._to_read:
            self._to_read.discard(f)
            return True
        return False

    def _read_plain(self, f: _File, to_end: bool, turns: int = _TURN_CHUNKS) -> None:
        fd = f.fd
        st = f.stream
        assert fd is not None and st is not None
        pread = os.pread
        stopping = self._stop.is_set
        # A file that keeps growing gets a bounded turn, then the others get theirs.
        if to_end:
            turns = -1
        while not stopping():
            if turns == 0:
                self._to_read.add(f)
                return
            turns -= 1
            head = f.head
            assert head is not None
            off = st.offset
            try:
                data = pread(fd, _CHUNK, off)
                # Checked after the read: if the first bytes are still ours, so was the read.
                same = pread(fd, len(head), 0) == head
            except OSError as e:
                self._fail(f, e)
                return
            if not same:
                self._detach(f)
                self._identify(f)
                if f.stream is None:
                    return
                st = f.stream
                continue
            n = len(data)
            if not n:
                size = os.fstat(fd).st_size
                if (
                    size < off
                    and size < f.size_seen
                    and all(m is f or m.compressed for m in st.members)
                ):
                    # Cut shorter with its first line intact: go on from its new end.
                    self.stats.error(f.path, f"file shrank from {f.size_seen} to {size} bytes")
                    st.offset = size
                    st.tail = 0
                    self._mark(st)
                f.size_seen = size
                return
            consumed = self._consume(st, data)
            if consumed == 0 and n == _CHUNK:
                consumed = self._consume_long_line(st, fd, off)
            if consumed == 0:
                st.tail = n  # an unterminated line: wait for its end
                f.size_seen = off + n
                self._unsettled.add(st)
                return
            st.offset = off + consumed
            st.tail = n - consumed if n < _CHUNK else 0
            st.last_growth = f.last_growth = time.monotonic()
            if st.tail or st.decoder.pending:
                self._unsettled.add(st)
            self._mark(st)
            self._submit_if_due()
            if n < _CHUNK:
                f.size_seen = off + n
                return

    def _consume_long_line(self, st: _Stream, fd: int, off: int) -> int:
        """A whole chunk without "\\n": find the line's end, or cut it at _LONG_LINE_MAX."""
        data = os.pread(fd, _LONG_LINE_MAX, off)
        nl = data.find(b"\n")
        if nl >= 0:
            return self._consume(st, data[: nl + 1])
        if len(data) < _LONG_LINE_MAX:
            return 0  # still being written
        return self._consume(st, data + b"\n") - 1

    def _read_gz(self, f: _File) -> None:
        st = f.stream
        assert st is not None
        if f.done or any(not m.compressed for m in st.members):
            # The uncompressed file with this content is read instead: a rotation is
            # never read twice because it was compressed.
            return
        pos = st.offset
        buf = b""
        try:
            with self._with_fds(lambda: gzip.open(f.path, "rb")) as g:
                if pos:
                    g.seek(pos)
                while True:
                    if self._stop.is_set():
                        return  # the checkpoint says where to go on next time
                    # read1: what one read of the file gives. read() would drop the
                    # good data it holds when a later part is damaged (truncated,
                    # trailing garbage); this way everything before the damage is kept.
                    data = g.read1(_CHUNK)
                    if not data:
                        break
                    if buf:
                        data = buf + data
                    consumed = self._consume(st, data)
                    if consumed == 0 and len(data) >= _LONG_LINE_MAX:
                        consumed = self._consume(st, data[:_LONG_LINE_MAX] + b"\n") - 1
                    buf = data[consumed:]
                    pos += consumed
                    st.offset = pos
                    st.last_growth = time.monotonic()
                    self._mark(st)
                    self._submit_if_due()
        except FileNotFoundError:
            self._rescan.add(f.cdir)
            return
        except (OSError, EOFError, zlib.error) as e:
            if not (isinstance(e, OSError) and self._retry_later(e, f)):
                self._fail(f, e)
            return
        self._opened += 1
        f.done = True
        if buf:
            # A complete .gz that ends without "\n": its writer died mid-line.
            st.offset = pos + len(buf)
            self._emit_final(st, buf)
        if st.decoder.pending:
            self._unsettled.add(st)

    def _consume(self, st: _Stream, data: bytes) -> int:
        """Decode the complete lines at the start of data; returns the bytes used."""
        cut = data.rfind(b"\n")
        if cut < 0:
            return 0
        lines = data.split(b"\n")
        lines.pop()  # what follows the last "\n" is not a complete line
        now = time.time_ns()
        feed = st.decoder.feed
        source = st.source
        records = self._records
        append = records.append
        before = len(records)
        since = self._since_ns
        for raw in lines:
            for p in feed(raw, now):
                if p.ts >= since:
                    append(Record(p.ts, source, p.stream, p.message, p.level, p.flags))
        n = len(records) - before
        if n:
            self._touch()
            self.stats.add_lines(st.label, n, records[-1].ts)
        malformed = st.decoder.malformed
        if malformed != st.malformed_seen:
            self.stats.add_malformed(malformed - st.malformed_seen)
            st.malformed_seen = malformed
        return cut + 1

    def _emit_final(self, st: _Stream, raw: bytes | None) -> None:
        """Store a stream's unfinished end: an unterminated last line, held fragments."""
        now = time.time_ns()
        parsed = st.decoder.feed(raw, now) if raw else []
        parsed += st.decoder.flush(now)
        parsed = [p for p in parsed if p.ts >= self._since_ns]
        self._mark(st)
        if not parsed:
            return
        source = st.source
        self._records.extend(
            Record(p.ts, source, p.stream, p.message, p.level, p.flags | Flag.UNTERMINATED)
            for p in parsed
        )
        self.stats.add_lines(st.label, len(parsed), parsed[-1].ts)

    def _finish_stream(self, st: _Stream, f: _File | None) -> None:
        """Store what a finished stream still holds; its unterminated end is read from f."""
        raw = None
        if st.tail and f is not None and f.fd is not None:
            raw = os.pread(f.fd, st.tail, st.offset)
            if b"\n" in raw:
                self._to_read.add(f)  # it grew meanwhile: not finished after all
                return
            st.offset += len(raw)
            st.tail = 0
        self._emit_final(st, raw)
        self._unsettled.discard(st)

    # -- periodic work --------------------------------------------------------------------

    def _is_live(self, f: _File) -> bool:
        """Whether a container may still write to this file."""
        i = f.info
        return (
            not f.gone
            and not f.compressed
            and i.rotated_stamp is None
            and i.restart >= f.cdir.max_restart
            and not f.cdir.gone
        )

    def _settle(self, now: float) -> None:
        t = self.tuning
        for f in list(self._closing):
            # A deleted file gets no events: look for growth, release it once quiet.
            self._read(f, to_end=True)
            if now - f.last_growth >= t.release_s:
                self._release(f)
        for st in list(self._unsettled):
            if not st.tail and not st.decoder.pending:
                self._unsettled.discard(st)
            elif now - st.last_growth < t.partial_grace_s:
                continue
            elif st.tail and not any(self._is_live(m) for m in st.members):
                readable = [m for m in st.members if m.fd is not None]
                self._finish_stream(st, readable[0] if readable else None)
            elif st.decoder.pending:
                # Fragments of a line whose end never came: store what there is.
                self._emit_final(st, None)
        for st in list(self._orphans):
            if st.members:
                self._orphans.discard(st)
            elif now - st.orphan_since >= t.orphan_grace_s:
                self._orphans.discard(st)
                self._unsettled.discard(st)
                if st.decoder.pending:
                    self._emit_final(st, None)
                del self._streams[st.key]
                self._dirty.pop(st.key, None)
                self._touch()
                self._deleted.add(st.key)
        for f in list(self._files.values()):
            if (
                f.stream is None
                and f.fd is not None
                and not f.failed
                and now - f.last_growth >= t.partial_grace_s
                and not self._is_live(f)
            ):
                # Shorter than a line and no longer written: read what there is.
                self._identify(f, finished=True)
                if f.stream is not None:
                    self._to_read.add(f)
            fs = f.stream
            if (
                f.fd is not None
                and fs is not None
                and now - f.last_growth >= t.idle_close_s
                and not fs.tail
                and not fs.decoder.pending
                and not self._is_live(f)
            ):
                self._close_fd(f)

    def _poll_sizes(self) -> None:
        """Catch writes whose inotify event never came (some file systems drop them),
        and targets of broken links that appeared since."""
        if self._dangling:
            self._rescan.update(d for d in self._dangling if not d.gone)
            self._dangling.clear()
        for f in self._files.values():
            if f.fd is None or f.failed:
                continue
            try:
                size = os.fstat(f.fd).st_size
            except OSError:
                continue
            if f.stream is None or size != f.size_seen:
                self._to_read.add(f)

    def _forget_unclaimed_checkpoints(self) -> None:
        """Delete checkpoints of content no file holds any more.

        Kept while a file of the same container instance is not identified yet
        (unreadable, or its first line not written): it may hold that content.
        """
        waiting = {self._key(f.info) for f in self._files.values() if f.stream is None}
        for key, saved in sorted(self._saved.items()):
            source = _saved_source(saved)
            if source in waiting:
                continue
            del self._saved[key]
            self._touch()
            self._deleted.add(key)
            path = saved.get("path")
            if source is not None and source not in self._states and isinstance(path, str):
                # None of its files was found: its pod was deleted while we were not
                # running, or is being deleted now. In that case the pod's watch (set by
                # the scan, before its listing) reports it, and `_scan_pod` marks it.
                pod = os.path.dirname(os.path.dirname(path))
                self._unseen.setdefault(pod, set()).add(source)
                if not os.path.isdir(pod):
                    self._pod_gone(pod)

    # -- batches --------------------------------------------------------------------------

    def _touch(self) -> None:
        """Something is going into the batch: start its clock if it was empty."""
        if not self._batch_since:
            self._batch_since = time.monotonic()

    def _mark(self, st: _Stream) -> None:
        """The stream's checkpoint goes into the batch that holds its latest lines."""
        self._touch()
        self._dirty[st.key] = st
        if st.members:
            st.path = next(iter(st.members)).path

    def _submit_if_due(self) -> None:
        if self._batch_since and (
            len(self._records) >= self.tuning.batch_lines
            or time.monotonic() - self._batch_since >= self.tuning.batch_interval_s
        ):
            self._submit()

    def _submit(self) -> None:
        if not self._batch_since:
            return
        batch = Batch(
            records=self._records,
            checkpoints={k: st.checkpoint() for k, st in self._dirty.items()},
            sources=self._infos,
            deleted_checkpoints=sorted(self._deleted),
        )
        self._records = []
        self._dirty = {}
        self._deleted = set()
        self._infos = []
        self._batch_since = 0.0
        self.sink.submit(batch)


def _head(data: bytes) -> bytes | None:
    """A file's identifying head from its first bytes: its first line, capped."""
    nl = data.find(b"\n")
    if nl >= 0:
        return data[: nl + 1]
    return data if len(data) >= _HEAD_MAX else None


def _end_if_older(fd: int, since_ns: int) -> int:
    """Where to start reading a file new to us under --since: after its last complete
    line if it was last written before since_ns (all of it is older), else at 0 (its
    lines older than since_ns are dropped as they are decoded)."""
    fst = os.fstat(fd)
    if fst.st_mtime_ns >= since_ns:
        return 0
    tail_start = max(0, fst.st_size - _HEAD_MAX * 64)
    nl = os.pread(fd, fst.st_size - tail_start, tail_start).rfind(b"\n")
    return tail_start + nl + 1 if nl >= 0 else 0


def _read_head(path: str, compressed: bool) -> bytes | None:
    if compressed:
        with gzip.open(path, "rb") as g:
            data: bytes = g.readline(_HEAD_MAX)
        # A .gz is complete: an unterminated first line is all there is.
        return data or None
    with open(path, "rb") as fh:
        return _head(fh.read(_HEAD_MAX))
