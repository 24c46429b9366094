"""The file collector: wires scan, watch, identity, read and lifecycle together and runs
them on one thread: backfill every file present, then follow with inotify. A container
with much history has its recent lines read first and its older ones while following
(see backfill).

Every line of a node's kubelet log files is stored exactly once (see `identity` for how
a file's content is named, `scan` for the layout read). Checkpoints are committed in the
same transaction as the lines (see klogtui.store.writer), so a kill -9 rolls both back
together.

Threading: one thread reads inotify events and files and hands `Batch`es to the sink;
the sink's submit blocks when the writer is behind, which slows reading (back-pressure)
instead of growing a queue. If inotify events are dropped meanwhile (queue overflow),
everything is rescanned.
"""

from __future__ import annotations

import heapq
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from klogtui.collect.base import CollectorStats
from klogtui.collect.batching import BatchBuilder
from klogtui.collect.files.backfill import Backfill
from klogtui.collect.files.fds import Descriptors
from klogtui.collect.files.identity import Identity
from klogtui.collect.files.lifecycle import FileLifecycle
from klogtui.collect.files.read import FileReader
from klogtui.collect.files.scan import Scanner
from klogtui.collect.files.sources import Sources
from klogtui.collect.files.tracked import LogFile, Tracked
from klogtui.collect.files.watch import Waker, Watches
from klogtui.collect.pod_meta import PodMeta, PodMetaFeed
from klogtui.errors import CollectorError
from klogtui.model import Sink

__all__ = ["HISTORY_WAIT_S", "FileCollector", "Tuning", "check_log_dir", "default_node_name"]

# The older history waits at most this long for the recent lines to be stored.
HISTORY_WAIT_S = 10.0


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
        recent_window_s: recent first (see backfill): a container with much unread
            history has its newest lines of this span read first, then the older ones.
        recent_min_bytes: ... when its files hold at least this many bytes unread
            (less is read oldest first, whole, before going live).
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
    recent_window_s: float = 900.0
    recent_min_bytes: int = 4 << 20


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


class FileCollector:
    """Collects every line of a node's kubelet log files into a sink, exactly once.

    Args:
        log_dir: the directory holding ``pods/`` and/or ``containers/`` (e.g. /var/log).
        sink: where batches go (the store's writer).
        stats: counters shared with the UI.
        checkpoints: committed checkpoints (``store.load_checkpoints(identity.CHECKPOINT_PREFIX)``).
        node: node name stored with each source (default: `default_node_name`).
        tuning: timings and sizes.
        namespaces: collect only these namespaces' pods (empty: all); the others' files
            are never opened or watched.
        since_ns: store only lines stamped at or after this time (UTC ns); files written
            to last before it are not read at all.
        pods: where the pods' labels and workloads come from (the API through
            collect/kube/node_pods.py, or the demo's cast), or None.
        sink_pending: lines handed to the sink and not stored yet (the writer's
            `pending_lines`): the older history waits until the recent lines are
            stored (at most `HISTORY_WAIT_S`), so it does not slow their commit.

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
        pods: PodMetaFeed | None = None,
        sink_pending: Callable[[], int] | None = None,
    ) -> None:
        log_dir = Path(log_dir)
        check_log_dir(log_dir)
        self.log_dir = log_dir
        self.sink = sink
        self.stats = stats
        self.node = node or default_node_name()
        self.tuning = t = tuning or Tuning()
        since = since_ns or 0
        self.failure: BaseException | None = None  # why the thread stopped early, if it did
        self.files_total = 0  # files found at start (backfill progress)
        self.files_done = 0
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._recent_read = threading.Event()
        self._sink_pending = sink_pending
        self._history_started = False
        self._recent_at = 0.0  # when the recent lines were handed over
        self._thread: threading.Thread | None = None
        self._waker = Waker()
        self._pod_feed = pods
        self._pods_told: deque[PodMeta] = deque()  # from the feed's thread, taken on ours

        # The parts, each one concern; they share the tables in `tracked`.
        self._batch = BatchBuilder(t.batch_lines, t.batch_interval_s)
        self._tracked = tracked = Tracked()
        self._watches = Watches(stats, tracked)
        self._fds = Descriptors(stats, tracked, self._watches)
        self._sources = sources = Sources(self.node, self._batch)
        self._identity = Identity(
            stats, tracked, self._fds, sources, self._batch, checkpoints or {}, since
        )
        self._reader = FileReader(
            stats,
            tracked,
            self._fds,
            self._identity,
            self._batch,
            self._submit_if_due,
            self._stop,
            self._caught_up,
            since,
        )
        self._older = Backfill(
            stats,
            tracked,
            self._identity,
            self._reader,
            t.recent_window_s,
            t.recent_min_bytes,
        )
        self._lifecycle = FileLifecycle(
            t, stats, tracked, self._fds, self._identity, self._reader, self._batch
        )
        self._scanner = Scanner(
            log_dir,
            stats,
            tracked,
            self._watches,
            self._fds,
            sources,
            self._identity,
            self._lifecycle,
            namespaces,
            since,
        )

    # -- Collector protocol -------------------------------------------------------------

    def start(self) -> None:
        """Start the collector thread: backfill what exists, then follow."""
        self._waker.open()
        self._thread = threading.Thread(target=self._run, name="klogtui-files", daemon=True)
        self._thread.start()
        if self._pod_feed is not None:
            self._pod_feed.start(self._pod_told)

    def stop(self) -> None:
        """Ask the thread to hand over its batch and end.

        Partial lines still waiting for their end are not stored: the checkpoints keep
        them, and the next run completes them.
        """
        self._stop.set()
        self._waker.wake()
        if self._pod_feed is not None:
            self._pod_feed.stop()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pod_feed is not None:
            self._pod_feed.join(timeout)

    def caught_up(self) -> bool:
        """True once every file present at start was read to its end and handed over."""
        return self._caught_up.is_set()

    def recent_read(self) -> bool:
        """True once the files' recent lines (see backfill) were handed over: all lines
        but the older history still loading, if any."""
        return self._recent_read.is_set()

    def history_progress(self) -> tuple[int, int]:
        """(bytes read, bytes found) of the older history read after the recent lines."""
        return self._older.progress()

    # -- thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._watches.start()
            self._backfill()
            if not self._stop.is_set():
                if not self._fds.retry_scan:
                    self._reader.flush_groups()  # see _follow
                self._submit()
                self._recent_at = time.monotonic()
                self._recent_read.set()
                if not self._fds.retry_scan and not self._older.pending:
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

    def _pod_told(self, pod: PodMeta) -> None:
        """The feed's thread: hand the pod over to ours (deque appends are atomic)."""
        self._pods_told.append(pod)
        self._waker.wake()

    def _take_pods_told(self) -> None:
        while self._pods_told:
            self._sources.note_pod(self._pods_told.popleft())

    def _close_everything(self) -> None:
        for f in list(self._tracked.files.values()) + list(self._tracked.closing):
            self._fds.close_fd(f)
        self._watches.close()
        self._waker.close()

    def _say_polling(self) -> None:
        self._watches.say_polling(self._scanner.count_polled, self.tuning.unwatched_scan_s)

    def _backfill(self) -> None:
        """Read everything present: each container's files oldest first, and the
        containers side by side in time order, a chunk at a time.

        The store keeps rows in time order. Fed container after container, every
        insert lands somewhere else in the table and ingest runs at half speed
        (measured on 1M lines over 58 files); interleaved by time, inserts append.
        """
        self._scanner.scan_all()
        pending = sorted(self._tracked.files.values(), key=LogFile.order)
        pending = self._older.plan(pending)  # older history waits (see backfill)
        self.files_total = len(pending)
        queues: dict[str, deque[LogFile]] = {}
        for f in pending:
            queues.setdefault(f.cdir.path, deque()).append(f)
        # (timestamp of the last line read, tiebreak, that container's files)
        heap = [(0, i, q) for i, q in enumerate(queues.values())]
        while heap and not self._stop.is_set():
            last_ts, i, q = heapq.heappop(heap)
            f = q[0]
            if f.gone or not self._reader.read(f, turns=1):
                q.popleft()
                self.files_done += 1
            if q:
                records = self._batch.records
                if records and f.stream is not None and records[-1].source == f.stream.source:
                    last_ts = records[-1].ts
                heapq.heappush(heap, (last_ts, i, q))
            # Keep the event queue short during a long backfill; the work waits.
            self._watches.collect_events()
            self._take_pods_told()
            self._submit_if_due()
        self._read_what_could_not_be_opened()
        self._identity.forget_unclaimed_checkpoints()
        self._say_polling()

    def _read_what_could_not_be_opened(self) -> None:
        """Out of file descriptors during the backfill: close the files read, open the
        next ones, read them; again while that makes progress (then `_follow` goes on)."""
        while self._fds.retry_scan and not self._stop.is_set():
            opened = self._fds.opened
            self._retry()
            self._do_pending()
            self._submit_if_due()
            if self._fds.opened == opened:
                break

    def _retry(self) -> None:
        """Try again what could not be opened for want of descriptors."""
        self._fds.retry_scan = False
        self._fds.shed_idle_fds()
        self._scanner.scan_all()
        files = self._fds.take_retry_files()
        self._tracked.to_read.update(f for f in files if not f.gone)

    def _follow(self) -> None:
        t = self.tuning
        poller = select.poll()
        events = self._watches.fileno()
        if events is not None:
            poller.register(events, select.POLLIN)
        poller.register(self._waker.fileno(), select.POLLIN)
        now = time.monotonic()
        next_settle = now + 0.25
        next_poll = now + t.poll_interval_s
        next_rescan = now + t.rescan_interval_s
        next_unwatched = now + t.unwatched_scan_s
        next_expiry: float | None = None
        while not self._stop.is_set():
            soonest = min(next_settle, next_poll, next_rescan, next_unwatched)
            if next_expiry is not None:
                soonest = min(soonest, next_expiry)  # an open event's hold time
            wait = soonest - time.monotonic()
            if self._batch.since:
                wait = min(wait, self._batch.since + t.batch_interval_s - time.monotonic())
            if self._tracked.to_read or self._tracked.rescan:
                wait = -1.0  # work left over from the last round (a busy file's next turn)
            elif self._older.pending:
                # Older history to read when nothing else waits (soon, if it waits
                # for the recent lines to be stored).
                wait = -1.0 if self._history_may_start() else min(wait, 0.02)
            poller.poll(max(0, int(wait * 1000) + 1) if wait >= 0 else 0)
            if self._stop.is_set():
                break
            self._waker.drain()  # what woke us (pods told) is taken below, in _do_pending
            self._watches.collect_events()
            now = time.monotonic()
            if now >= next_rescan:
                self._scanner.scan_all()
                next_rescan = now + t.rescan_interval_s
            if now >= next_poll:
                self._scanner.poll_sizes()
                next_poll = now + t.poll_interval_s
            if now >= next_unwatched:
                if self._fds.retry_scan:
                    self._retry()
                self._scanner.poll_unwatched()
                # Said after a round of polling, so the count covers a burst of new pods.
                self._say_polling()
                next_unwatched = now + t.unwatched_scan_s
            self._do_pending()
            if self._older.pending and not self._tracked.to_read and self._history_may_start():
                self._older.turn()  # live lines first: a chunk of history when none waits
            next_expiry = self._reader.expire_groups(time.monotonic())
            if (
                not self._caught_up.is_set()
                and not self._fds.retry_scan
                and not self._tracked.to_read
                and not self._older.pending
            ):
                # What was there before we started is stored whole: "caught up" means
                # every line read so far can be found (a trace still being written
                # may be cut here, its rest flagged CONTINUED).
                self._reader.flush_groups()
                self._submit()
                self._caught_up.set()  # what could not be opened at first is read now
            if now >= next_settle:
                self._lifecycle.settle(now)
                next_settle = now + 0.25
            self._submit_if_due()

    def _history_may_start(self) -> bool:
        """Whether the older history may be read: once the recent lines are stored."""
        if not self._history_started:
            pending = self._sink_pending
            waited = time.monotonic() - self._recent_at
            self._history_started = pending is None or not pending() or waited > HISTORY_WAIT_S
        return self._history_started

    def _do_pending(self) -> None:
        self._take_pods_told()
        if self._tracked.overflow:
            self._tracked.overflow = False
            self._scanner.scan_all()
            self._tracked.to_read.update(self._tracked.files.values())
        if self._tracked.rescan_pods:
            pods, self._tracked.rescan_pods = self._tracked.rescan_pods, set()
            for pod in sorted(pods):
                self._scanner.scan_pod(pod)
        if self._tracked.links_dirty:
            self._tracked.links_dirty = False
            self._scanner.scan_links()
        while self._tracked.rescan:
            dirs, self._tracked.rescan = self._tracked.rescan, set()
            for d in dirs:
                self._scanner.scan_dir(d)
        if self._tracked.to_read:
            files, self._tracked.to_read = self._tracked.to_read, set()
            for f in sorted(files, key=LogFile.order):
                if f.stream is not None and f.stream.backfill and not f.gone:
                    continue  # older history: read in turns when nothing else waits
                if not f.gone or f in self._tracked.closing:
                    self._reader.read(f)

    # -- batches --------------------------------------------------------------------------

    def _submit_if_due(self) -> None:
        if self._batch.due():
            self._submit()

    def _submit(self) -> None:
        batch = self._batch.take()
        if batch is not None:
            self.sink.submit(batch)
