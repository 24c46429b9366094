"""Build the collectors the options ask for, run them into the store's writer.

`run_collect` is ``klogtui collect``: headless, until SIGINT/SIGTERM (or, with
``--once``, until everything present is stored), then it flushes and exits 0.
`start_collection` is the same machinery for the app: it returns a `Running` handle
with the statistics, the writer and a `stop`.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from klogtui.collect.base import Collector, CollectorStats
from klogtui.collect.demo.cluster import DemoCluster
from klogtui.collect.files.collector import FileCollector, check_log_dir, default_node_name
from klogtui.collect.files.identity import CHECKPOINT_PREFIX
from klogtui.collect.pod_meta import FixedPods, PodMetaFeed
from klogtui.errors import CollectorError, StoreError
from klogtui.store import CommitInfo, Retention, Store, WriteError, Writer
from klogtui.store.owner import OwnerLock

if TYPE_CHECKING:
    from klogtui.alerts.engine import AlertEngine
    from klogtui.alerts.rules import RuleSet
    from klogtui.collect.kube.collector import KubeOptions

__all__ = [
    "CollectOptions",
    "Companion",
    "PodsApi",
    "Running",
    "run_collect",
    "start_collection",
]

_DEMO_NODE = "demo-node-1"


@dataclass
class CollectOptions:
    """What to collect and where to store it (the CLI builds this from its arguments).

    Attributes:
        log_dir: kubelet log directory (holding pods/ and/or containers/), or None.
        db: the store file.
        demo: run the synthetic cluster (in a temporary directory) and collect it.
        once: ingest what exists, then stop (``klogtui collect --once``).
        kube: remote mode through the API server, or None.
        progress: print backfill progress on stderr even when it is not a terminal.
        demo_seed: the demo cluster's seed.
        demo_prefill_minutes: history the demo writes at once before going live.
        retention: limits the store's writer enforces (None: keep everything).
        namespaces: local files: only these namespaces' pods (empty: all).
        since_s: local files: only lines from the last since_s seconds (None: all).
        alerts: alert rules to evaluate on each commit, and where to send alerts.
        node: local files: the node they belong to (None: $NODE_NAME, else the host name).
        pods_api: local files: read their pods' labels and workloads from this API.
    """

    log_dir: Path | None
    db: Path
    demo: bool = False
    once: bool = False
    kube: KubeOptions | None = None
    progress: bool = False
    demo_seed: int = 1
    demo_prefill_minutes: float = 5.0
    retention: Retention | None = None
    namespaces: tuple[str, ...] = ()
    since_s: int | None = None
    alerts: RuleSet | None = None
    node: str | None = None
    pods_api: PodsApi | None = None


@dataclass(frozen=True)
class PodsApi:
    """The API a file collector asks about its node's pods (labels, workloads).

    Attributes:
        kubeconfig: a kubeconfig path; None for $KUBECONFIG or ~/.kube/config.
        context: its context to use; None for the current one.
        in_cluster: use the pod's service account (the DaemonSet) instead.
    """

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False


class Running:
    """Collection in progress: collectors feeding one writer.

    Attributes:
        stats: counters shared by the collectors (rates, lag, errors).
        writer: the store's writer the collectors submit to.
        log_dir: the directory being tailed (the demo's temporary one with --demo).
    """

    def __init__(
        self,
        stats: CollectorStats,
        writer: Writer,
        collectors: list[Collector],
        demo: DemoCluster | None = None,
        temp_dir: Path | None = None,
        log_dir: Path | None = None,
        owner: OwnerLock | None = None,
        alerts: AlertEngine | None = None,
    ) -> None:
        self.stats = stats
        self.alerts = alerts
        self.writer = writer
        self.log_dir = log_dir
        self._collectors = collectors
        self._demo = demo
        self._temp_dir = temp_dir
        self._owner = owner
        self._stopped = False
        self._committed = True
        self._lock = threading.Lock()

    def caught_up(self) -> bool:
        """True once every collector handed over what existed when it started."""
        return all(c.caught_up() for c in self._collectors)

    def recent_read(self) -> bool:
        """True once every collector handed over what existed when it started, but the
        older history still loading behind the newest lines (see collect/files/backfill)."""
        return all(
            c.recent_read() if isinstance(c, FileCollector) else c.caught_up()
            for c in self._collectors
        )

    def failure(self) -> BaseException | None:
        """Why a collector stopped on its own, if one did."""
        for c in self._collectors:
            failure: BaseException | None = getattr(c, "failure", None)
            if failure is not None:
                return failure
        return None

    def progress(self) -> tuple[int, int]:
        """(files read, files found) of the backfill of local files."""
        done = total = 0
        for c in self._collectors:
            if isinstance(c, FileCollector):
                done += c.files_done
                total += c.files_total
        return done, total

    def history_loading(self) -> float | None:
        """The share of the older history loaded (see collect/files/backfill): the
        recent lines were read first; None when no older history is loading."""
        done = total = 0
        for c in self._collectors:
            if isinstance(c, FileCollector):
                d, t = c.history_progress()
                done += d
                total += t
        return done / total if done < total else None

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the demo and the collectors, commit what they handed over, close the
        writer and remove the demo's directory. Safe to call more than once.

        Returns:
            False if what was handed over could not be committed within `timeout`
            (the store stayed locked or full, or its writer failed). Its checkpoints
            were not committed either, so the next run reads it again.
        """
        # Held throughout: a second caller (the app's hang-up watchdog, say) returns only
        # once the first has committed, so its answer is the real one.
        with self._lock:
            if self._stopped:
                return self._committed
            self._stopped = True
            try:
                if self._demo is not None:
                    self._demo.stop()
                for c in self._collectors:
                    c.stop()
                for c in self._collectors:
                    c.join(timeout)
                self._committed = self.writer.flush(timeout)
                self.writer.close(timeout)
                if self.alerts is not None:
                    self.alerts.stop()  # after the last commit: it is evaluated too
            finally:
                if self._owner is not None:
                    self._owner.release()
                if self._temp_dir is not None:
                    shutil.rmtree(self._temp_dir, ignore_errors=True)
            return self._committed


def _raise_fd_limit() -> None:
    """Tailing a busy node holds many files open; allow as many as the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass  # keep the soft limit: idle files are closed anyway


# What `collect` opens besides what is open when it starts: the store (its lock, the
# database, -wal and -shm), the file collector's wake-up pipe (2) and inotify instance,
# and one log file or directory at a time. Fewer, and no log file can ever be opened:
# collect would read nothing and wait forever (measured: 11 with stdin/out/err open).
_FDS_TO_COLLECT = 4 + 3 + 1


def _check_fd_limit() -> None:
    """Refuse at once, saying what to do, when `ulimit -n` cannot hold the store and
    one log file: rather than start, read nothing and wait, or stop after partial work.

    Raises:
        CollectorError: naming the limit and the minimum.
    """
    _raise_fd_limit()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft > 1024:
        return  # far more than any start needs; not worth counting
    # fstat needs no descriptor of its own, unlike listing /proc/self/fd.
    need = sum(1 for fd in range(soft) if _is_open(fd)) + _FDS_TO_COLLECT
    if soft < need:
        raise CollectorError(
            f"file descriptors: klogtui collect needs at least {need} open files; "
            f"ulimit -n is {soft}: raise it (ulimit -n 1024 or more for a busy node)"
        )


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def start_collection(
    opts: CollectOptions,
    store: Store,
    on_commit: Callable[[CommitInfo], None] | None = None,
) -> Running:
    """Start the collectors `opts` ask for, feeding a new writer of `store`.

    With ``opts.demo`` a synthetic cluster first writes its history into a temporary
    directory (removed by `Running.stop`), then keeps writing in real time.

    Raises:
        CollectorError: the log directory holds no kubelet logs (the message suggests
            --demo and --kubeconfig), or the remote source cannot be used.
        CollectingElsewhere: another process collects into the store (its pid says which).
    """
    log_dir = opts.log_dir
    if log_dir is not None and not opts.demo:
        check_log_dir(log_dir)
    # Before any checkpoint is read: a second collector would read every file again.
    owner = OwnerLock.acquire(store.path)
    try:
        return _start(opts, store, owner, log_dir, on_commit)
    except BaseException:
        owner.release()
        raise


def _start(
    opts: CollectOptions,
    store: Store,
    owner: OwnerLock,
    log_dir: Path | None,
    on_commit: Callable[[CommitInfo], None] | None,
) -> Running:
    demo: DemoCluster | None = None
    temp_dir: Path | None = None
    if opts.demo:
        temp_dir = Path(tempfile.mkdtemp(prefix="klogtui-demo-"))
        try:
            minutes = opts.demo_prefill_minutes
            demo = DemoCluster(
                temp_dir, seed=opts.demo_seed, start_ns=time.time_ns() - int(minutes * 60e9)
            )
            demo.prefill(minutes)
            # Writing the history took a moment: catch the clock up with now.
            demo.step(max(0.0, (time.time_ns() - demo.now_ns) / 1e9))
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        log_dir = temp_dir
    stats = CollectorStats()
    # Checkpoints are read before the writer starts: opening and closing another
    # connection to the file in this process while the writer holds it is best avoided.
    file_points = store.load_checkpoints(CHECKPOINT_PREFIX) if log_dir is not None else {}
    kube_points: dict[str, str] = {}
    if opts.kube is not None:
        from klogtui.collect.kube import collector as kube

        kube_points = store.load_checkpoints(kube.CHECKPOINT_PREFIX)

    def on_error(e: WriteError) -> None:
        # Retried by the writer; said once, for `collect` to print and the UI to show.
        stats.error("store", e.message)

    def on_notice(message: str) -> None:
        # What retention dropped: `collect` prints it, the UI lists it with the errors.
        stats.error("retention", message)

    alerts = _alert_engine(opts, store, stats)
    if alerts is not None:
        on_commit = _also_wake(alerts, on_commit)
    writer = store.start_writer(
        on_commit=on_commit,
        on_error=on_error,
        retention=opts.retention,
        on_notice=on_notice,
        compact_before_close=opts.once,
    )
    collectors: list[Collector] = []
    try:
        if log_dir is not None:
            _raise_fd_limit()
            node = _DEMO_NODE if opts.demo else opts.node or default_node_name()
            collectors.append(
                FileCollector(
                    log_dir,
                    writer,
                    stats,
                    checkpoints=file_points,
                    node=node,
                    pods=_pod_feed(opts, demo, node, stats),
                    sink_pending=lambda: writer.pending_lines,
                    namespaces=opts.namespaces,
                    since_ns=None
                    if opts.since_s is None
                    else time.time_ns() - opts.since_s * 10**9,
                )
            )
        if opts.kube is not None:
            collectors.append(kube.KubeCollector(opts.kube, writer, stats, checkpoints=kube_points))
        for c in collectors:
            c.start()
        if demo is not None:
            demo.start()
        if alerts is not None:
            alerts.start()
    except BaseException:
        for c in collectors:
            c.stop()
        writer.close()
        if alerts is not None:
            alerts.stop()
        if demo is not None:
            demo.stop()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return Running(stats, writer, collectors, demo, temp_dir, log_dir, owner, alerts)


def _pod_feed(
    opts: CollectOptions, demo: DemoCluster | None, node: str, stats: CollectorStats
) -> PodMetaFeed | None:
    """Where the file collector learns its pods' labels and workloads, if anywhere."""
    if demo is not None:
        return FixedPods(demo.pod_metas())
    if opts.pods_api is None:
        return None
    from klogtui.collect.kube.connect import connect
    from klogtui.collect.kube.node_pods import NodePods

    api = opts.pods_api
    return NodePods(
        connect(api.kubeconfig, api.context, api.in_cluster, pool_size=2, connect_timeout=10),
        node,
        stats,
    )


def _alert_engine(opts: CollectOptions, store: Store, stats: CollectorStats) -> AlertEngine | None:
    """The alert engine for the rules in opts, their problems reported (None: no rules
    and no config file)."""
    if opts.alerts is None:
        return None
    for problem in opts.alerts.problems:
        stats.error("alerts", f"{problem.one_line()}; rule skipped")
    config = opts.alerts.path
    if not opts.alerts.rules and (config is None or not config.is_file()):
        return None  # no rules, and no config file to add them to while we run
    from klogtui.alerts.engine import AlertEngine

    def on_error(where: str, message: str) -> None:
        stats.forget_errors(where)  # each outage is told, not just the first ever
        stats.error(where, message)

    return AlertEngine(store.path, opts.alerts, on_error)


def _also_wake(
    alerts: AlertEngine, on_commit: Callable[[CommitInfo], None] | None
) -> Callable[[CommitInfo], None]:
    def wake_then_tell(info: CommitInfo) -> None:
        alerts.wake()
        if on_commit is not None:
            on_commit(info)

    return wake_then_tell


class _Progress:
    """One updating line on stderr while the backfill runs."""

    def __init__(self, out: TextIO, enabled: bool) -> None:
        self.out = out
        self.enabled = enabled
        self.started = time.monotonic()
        self.finished = False
        self._last = 0.0

    def update(self, running: Running) -> None:
        if not self.enabled or self.finished:
            return
        now = time.monotonic()
        lines = running.stats.snapshot().lines_total
        elapsed = max(now - self.started, 1e-9)
        done, total = running.progress()
        # Remote mode reads streams, not files: say nothing about files then.
        files = f"{done}/{total} files, " if total else ""
        if running.caught_up():
            self.finished = True
            self.out.write(
                f"\rcaught up: {files.removeprefix(f'{done}/')}{lines:,} lines in "
                f"{elapsed:.1f}s ({lines / elapsed:,.0f} lines/s)\x1b[K\n"
            )
        elif now - self._last >= 0.2:
            self._last = now
            rate = lines / elapsed
            loading = running.history_loading()
            history = "" if loading is None else f", loading history: {loading:.0%}"
            self.out.write(
                f"\rbackfill: {files}{lines:,} lines, {rate:,.0f} lines/s{history}\x1b[K"
            )
        self.out.flush()


class Companion(Protocol):
    """What runs beside ``klogtui collect`` (its query API): told of every commit,
    started once collection runs, stopped before collection stops."""

    def on_commit(self, info: CommitInfo) -> None: ...

    def start(self, running: Running) -> None: ...

    def stop(self) -> None: ...


def run_collect(opts: CollectOptions, companion: Companion | None = None) -> int:
    """``klogtui collect``: collect into the store until told to stop.

    Stops on SIGINT or SIGTERM (or once caught up with ``opts.once``), then commits
    everything handed over and returns 0. Problems with single files are printed once
    each and skipped.

    Returns:
        The process exit code: 0; 1 if a collector failed or what was read could not
        be committed; 130 if a signal ended ``--once`` before it caught up.

    Raises:
        KlogError: the store or the sources cannot be used (printed by the CLI).
    """
    if opts.log_dir is not None or opts.demo:
        _check_fd_limit()
    store = Store.open(opts.db)
    signalled = False
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # A plain flag, no lock: the handler runs in the main thread between two of its
        # bytecodes, maybe while that thread holds the very lock (Event.set() here hung
        # for good when the signal came inside Event.wait).
        nonlocal signalled
        signalled = True

    def signalled_after(seconds: float) -> bool:
        time.sleep(seconds)
        return signalled

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        running = start_collection(
            opts, store, on_commit=None if companion is None else companion.on_commit
        )
        progress = _Progress(sys.stderr, opts.progress or sys.stderr.isatty())
        printed: set[tuple[str, str]] = set()

        def print_errors() -> None:
            gone = running.writer.failure
            for e in running.stats.snapshot().errors:
                if gone is not None and e.where != "store" and str(gone) in e.message:
                    continue  # a collector stopped because the writer did: said once
                if (e.where, e.message) not in printed:
                    printed.add((e.where, e.message))
                    print(f"klogtui: {e.where}: {e.message}", file=sys.stderr)

        code = 0
        committed = False
        try:
            if companion is not None:
                companion.start(running)
            while not signalled_after(0.1):
                print_errors()
                if running.failure() is not None or running.writer.failure is not None:
                    code = 1
                    break
                progress.update(running)
                if opts.once and running.caught_up():
                    break
            else:
                if opts.once and not running.caught_up():
                    # A signal ended --once before it caught up: scripts must be able
                    # to tell an interrupted ingest from a finished one.
                    print("klogtui: stopped before catching up", file=sys.stderr)
                    code = 130
        finally:
            if companion is not None:
                companion.stop()
            committed = running.stop()
        print_errors()
        progress.update(running)
        if isinstance(running.writer.failure, StoreError):
            return 1  # the store cannot be written any more: printed above
        if not committed:
            # Exit 0 would tell a script or a DaemonSet that everything was stored.
            print(
                "klogtui: store: the last lines read could not be committed in time; "
                "the next run reads them again",
                file=sys.stderr,
            )
            return 1
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
