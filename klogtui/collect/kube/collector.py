"""Remote mode: collect container logs through the Kubernetes API.

`KubeCollector` wires the parts together: `PodWatcher`s (one per namespace, or one for
the cluster) list and watch pods; the registry here turns pod status into container
instances to read and into source metadata for the store; each instance is an
`InstanceStream` run by the `FairScheduler` (at most `max_streams` requests open;
beyond, the chattiest keep theirs and the rest take turns; a terminating pod's go
first); everything read goes through one `Batcher` to the sink, lines and checkpoints
together. `NodeHealth` keeps the containers of a node whose kubelet does not answer
from taking slots.

Resume: a checkpoint per instance (``kube:<uid>:<container>:<restart>``, a
`ResumePoint` as JSON) is committed with its lines. Given the committed checkpoints at
start, a restarted collector asks for each instance from its last stored second and
skips the lines of that second it already has: every line is stored once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.api import KubeApi, ThrottleRetry
from klogtui.collect.kube.batcher import Batcher
from klogtui.collect.kube.connect import check_access, connect
from klogtui.collect.kube.events import EventTicker
from klogtui.collect.kube.lines import ResumePoint
from klogtui.collect.kube.nodes import NodeHealth
from klogtui.collect.kube.owners import OwnerResolver
from klogtui.collect.kube.pods import PodWatcher, WatchTimings
from klogtui.collect.kube.scheduler import FairScheduler, Task
from klogtui.collect.kube.status import ContainerView, PodView, instance_infos
from klogtui.collect.kube.stream import InstanceStream, StreamTimings, checkpoint_key
from klogtui.model import Sink, SourceInfo, SourceKey

__all__ = ["CHECKPOINT_PREFIX", "KubeCollector", "KubeOptions", "KubeTimings"]

CHECKPOINT_PREFIX = "kube:"


@dataclass(frozen=True, slots=True)
class KubeTimings:
    """Every timeout and delay of remote mode (tests shrink them).

    Attributes:
        connect_timeout_s: seconds to wait for a connection to the API server.
        check_timeout_s: seconds to wait for each answer while checking access.
        slice_s: how long a stream runs while others wait for a slot.
        batch_delay_s: the longest a line waits before it is handed to the sink.
        stream: log stream timeouts and backoff.
        watch: pod discovery timeouts and backoff.
        throttle: how requests the server turns away with 429 are retried.
    """

    connect_timeout_s: float = 10.0
    check_timeout_s: float = 15.0
    slice_s: float = 10.0
    batch_delay_s: float = 0.2
    stream: StreamTimings = field(default_factory=StreamTimings)
    watch: WatchTimings = field(default_factory=WatchTimings)
    throttle: ThrottleRetry = field(default_factory=ThrottleRetry)


@dataclass(slots=True)
class KubeOptions:
    """What to collect through the API.

    Attributes:
        kubeconfig: kubeconfig path; None for $KUBECONFIG or ~/.kube/config.
        context: kubeconfig context; None for the current one.
        namespaces: namespaces to follow; empty for the context's namespace.
        all_namespaces: follow every namespace (one cluster-wide watch).
        selector: pod label selector, e.g. "app=web,tier!=cache".
        since_s: how far back to read a container instance without a checkpoint.
        max_streams: log requests open at once; more are time-sliced.
        in_cluster: use the pod's service account instead of a kubeconfig.
        may_interact: exec credential plugins may use the terminal (`klogtui collect`
            in one; never the TUI, whose screen and keys they would fight for).
        timings: timeouts and delays.
    """

    kubeconfig: str | None
    context: str | None
    namespaces: list[str]
    all_namespaces: bool
    selector: str | None
    since_s: int = 3600
    max_streams: int = 50
    in_cluster: bool = False
    may_interact: bool = False
    timings: KubeTimings = field(default_factory=KubeTimings)


def _parse_checkpoint_key(key: str) -> tuple[str, str, int] | None:
    parts = key.split(":")
    if len(parts) != 4 or parts[0] + ":" != CHECKPOINT_PREFIX:
        return None
    try:
        return parts[1], parts[2], int(parts[3])
    except ValueError:
        return None


def _rank(task: Task) -> float:
    return task.rank() if isinstance(task, InstanceStream) else 0.0


def _stalled(task: Task, now: float) -> bool:
    return task.stalled(now) if isinstance(task, InstanceStream) else False


class KubeCollector:
    """Collects the logs of the selected pods through the Kubernetes API.

    Construction reads the kubeconfig (or in-cluster config); `check()` asks the
    server; `start()` checks first if that was not done. Both raise CollectorError
    with a one-line message, so the CLI can report it before any screen opens.

    Args:
        options: what to collect.
        sink: where batches go (the store's writer).
        stats: counters and errors for the UI.
        checkpoints: committed checkpoints with the "kube:" prefix (resume state).

    Raises:
        CollectorError: missing or invalid kubeconfig, unknown context, not in a pod.
    """

    def __init__(
        self,
        options: KubeOptions,
        sink: Sink,
        stats: CollectorStats,
        checkpoints: dict[str, str] | None = None,
    ) -> None:
        self.options = options
        self._sink = sink
        self._stats = stats
        t = options.timings
        # One pooled connection per open stream, plus the watches and a spare.
        pool = options.max_streams + max(1, len(options.namespaces)) + 2
        self._stopping = threading.Event()
        self.api: KubeApi = connect(
            options.kubeconfig,
            options.context,
            options.in_cluster,
            pool,
            t.connect_timeout_s,
            t.throttle,
            self._stopping,
            may_interact=options.may_interact,
            notes=stats.error,
        )
        if options.all_namespaces:
            self._scopes: list[str | None] = [None]
        else:
            self._scopes = list(dict.fromkeys(options.namespaces)) or [self.api.target.namespace]
        self._checked = False
        self._started = False
        self._lock = threading.RLock()
        # Registry state, guarded by _lock.
        self._pods: dict[str, PodView] = {}
        # Indexed by pod uid: pod events touch one pod's entries, never all of them.
        self._tasks: dict[str, dict[SourceKey, InstanceStream]] = {}
        self._points: dict[str, ResumePoint] = {}
        self._points_by_uid: dict[str, set[tuple[str, int]]] = {}
        self._sent: dict[str, dict[SourceKey, tuple[Any, ...]]] = {}  # infos sent, per uid
        self._scopes_unlisted = len(self._scopes)
        self._initial: set[InstanceStream] = set()
        self._caught_up_seq: int | None = None
        self._open_streams = 0
        for key, value in (checkpoints or {}).items():
            parsed = _parse_checkpoint_key(key)
            if parsed is not None:
                self._points[key] = ResumePoint.from_json(value)
                self._points_by_uid.setdefault(parsed[0], set()).add((parsed[1], parsed[2]))
        self._batcher: Batcher | None = None
        self._ticker = EventTicker(self._stopping)  # hands over events held too long
        self._scheduler: FairScheduler | None = None
        self._watchers: list[PodWatcher] = []
        st = options.timings.stream
        self.nodes = NodeHealth(stats, st.node_backoff_s, st.node_backoff_max_s, self._node_up)
        self._owners = OwnerResolver(self.api, stats)

    # -- Collector protocol -----------------------------------------------------------

    @property
    def namespaces(self) -> list[str] | None:
        """The namespaces followed; None for all of them."""
        return None if self._scopes == [None] else [s for s in self._scopes if s is not None]

    def check(self) -> None:
        """Ask the server whether collecting can work (reachable, credentials, RBAC).

        Raises:
            CollectorError: with a one-line message saying what to fix.
        """
        check_access(
            self.api, self.namespaces, self.options.selector, self.options.timings.check_timeout_s
        )
        self._checked = True

    def start(self) -> None:
        """Check access (unless `check()` passed), then start discovery and streaming."""
        if self._started:
            return
        if not self._checked:
            self.check()
        self._started = True
        t = self.options.timings
        self._batcher = Batcher(self._sink, self._stats, max_delay_s=t.batch_delay_s)
        self._ticker.start()
        self._scheduler = FairScheduler(
            self.options.max_streams,
            t.slice_s,
            self._task_crashed,
            rank=_rank,
            stalled=_stalled,
            on_turn_taking=self._turn_taking_changed,
        )
        for scope in self._scopes:
            w = PodWatcher(
                self.api, scope, self.options.selector, self, self._stats, t.watch, self._stopping
            )
            self._watchers.append(w)
        for w in self._watchers:
            w.start()

    def stop(self) -> None:
        """End discovery and all streams; what was read is still handed over by join()."""
        self._stopping.set()
        for w in self._watchers:
            w.interrupt()
        if self._scheduler is not None:
            self._scheduler.stop()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the threads to end, then hand the last lines to the sink."""
        if self._scheduler is not None:
            self._scheduler.join(timeout)
        for w in self._watchers:
            w.join(timeout)
        if self._stopping.is_set():
            self._ticker.join(timeout)
        if self._batcher is not None and self._stopping.is_set():
            self._batcher.close(timeout)
            self.api.close()

    def caught_up(self) -> bool:
        """True once the pods listed at start had their logs read and handed over."""
        with self._lock:
            seq = self._caught_up_seq
        return seq is not None and self._batcher is not None and self._batcher.submitted(seq)

    # -- figures for tests and the status line --------------------------------------------

    def counts(self) -> dict[str, int]:
        """Pods known, instances being read, turns running / queued / delayed, lists."""
        running, queued, delayed = (
            self._scheduler.counts() if self._scheduler is not None else (0, 0, 0)
        )
        with self._lock:
            return {
                "pods": len(self._pods),
                "instances": sum(len(t) for t in self._tasks.values()),
                "running": running,
                "queued": queued,
                "delayed": delayed,
                "lists": sum(w.lists for w in self._watchers),
                "open_streams": self._open_streams,
                "nodes_down": len(self.nodes.down()),
            }

    def pinned(self) -> list[str]:
        """The container instances that keep a stream of their own while others take turns."""
        return self._scheduler.pinned() if self._scheduler is not None else []

    def _turn_taking_changed(self, taking: tuple[int, int] | None) -> None:
        """Keep the status line's notice in step with turn-taking."""
        if taking is None:
            self._stats.notice = ""
            return
        self._stats.notice = (
            f"taking turns: {taking[0]} containers > --max-streams {self.options.max_streams}"
            " (for clusters this size: klogtui collect on each node)"
        )

    # -- PodEvents (watcher threads) ------------------------------------------------------

    def pods_listed(self, namespace: str | None, pods: list[dict[str, Any]], first: bool) -> None:
        listed: set[str] = set()
        # Owners are looked up (or found in the cache) before the registry is locked.
        views = [PodView.from_dict(obj, self._owners.resolve(obj)) for obj in pods]
        with self._lock:
            for view in views:
                listed.add(view.uid)
                self._pod_seen(view, initial=first)
            gone = [
                v
                for uid, v in self._pods.items()
                if uid not in listed and (namespace is None or v.namespace == namespace)
            ]
            for view in gone:
                self._pod_gone(view)
            if first:
                self._forget_vanished(namespace, listed)
                self._scopes_unlisted -= 1
                self._check_caught_up()

    def pod_changed(self, pod: dict[str, Any]) -> None:
        view = PodView.from_dict(pod, self._owners.resolve(pod))
        with self._lock:
            self._pod_seen(view, initial=False)

    def pod_deleted(self, pod: dict[str, Any]) -> None:
        view = PodView.from_dict(pod)
        with self._lock:
            known = self._pods.get(view.uid)
            self._pod_gone(known or view)

    # -- registry (under _lock) -------------------------------------------------------------

    def _pod_seen(self, view: PodView, initial: bool) -> None:
        self._pods[view.uid] = view
        for c in view.containers.values():
            r = c.restart_count
            if c.started:
                self._ensure(view, c.name, r, initial)
            if r > 0 and c.state != "waiting" and c.last_id:
                self._ensure(view, c.name, r - 1, initial)
        if self._scheduler is not None:
            for task in self._tasks.get(view.uid, {}).values():
                # Terminating: its log goes with the pod, read it before anything else.
                task.urgent = view.terminating
                # New status is news for a task waiting out a backoff or an EOF.
                self._scheduler.wake(task)
        self._send_infos(instance_infos(view, self._known(view.uid)))

    def _known(self, uid: str) -> dict[str, list[int]]:
        known: dict[str, list[int]] = {}
        for container, restart in self._points_by_uid.get(uid, ()):
            known.setdefault(container, []).append(restart)
        return known

    def _ensure(self, view: PodView, container: str, restart: int, initial: bool) -> None:
        key = view.key(container, restart)
        if key in self._tasks.get(view.uid, {}):
            return
        ckey = checkpoint_key(key)
        point = self._points.get(ckey)
        if point is None:
            point = ResumePoint(namespace=view.namespace)
            self._points[ckey] = point
            self._points_by_uid.setdefault(view.uid, set()).add((container, restart))
        if point.done:
            return
        assert self._batcher is not None and self._scheduler is not None
        uid = view.uid
        task = InstanceStream(
            key=key,
            point=point,
            lookup=lambda: self._view(uid, container),
            api=self.api,
            batcher=self._batcher,
            stats=self._stats,
            timings=self.options.timings.stream,
            since_s=self.options.since_s,
            initial_read=initial,
            on_initial=self._initial_done,
            on_finished=self._finished,
            on_open=self._stream_opened,
            stopping=self._stopping,
            ticker=self._ticker,
            node=view.node,
            nodes=self.nodes,
            may_follow=self._scheduler.may_follow,
        )
        task.urgent = view.terminating
        self._tasks.setdefault(uid, {})[key] = task
        if initial:
            self._initial.add(task)
        self._scheduler.submit(task)

    def _view(self, uid: str, container: str) -> ContainerView | None:
        with self._lock:
            pod = self._pods.get(uid)
            return None if pod is None else pod.containers.get(container)

    def _pod_gone(self, view: PodView) -> None:
        self._pods.pop(view.uid, None)
        keys = sorted(self._sent.get(view.uid, {}), key=str)
        self._send_infos([SourceInfo(k, state="deleted") for k in keys])
        self._sent.pop(view.uid, None)
        tasks = self._tasks.get(view.uid, {})
        if self._scheduler is not None:
            for task in tasks.values():
                self._scheduler.wake(task)  # it sees the pod gone and finishes
        # Instances not being read have nothing left to resume: drop their checkpoints.
        self._drop_points(view.uid, keep={checkpoint_key(k) for k in tasks})

    def _drop_points(self, uid: str, keep: set[str]) -> None:
        dropped = []
        remaining = set()
        for container, restart in self._points_by_uid.pop(uid, set()):
            ckey = f"{CHECKPOINT_PREFIX}{uid}:{container}:{restart}"
            if ckey in keep:
                remaining.add((container, restart))
                continue
            if self._points.pop(ckey, None) is not None:
                dropped.append(ckey)
        if remaining:
            self._points_by_uid[uid] = remaining
        if dropped and self._batcher is not None:
            self._batcher.add([], deleted=dropped)

    def _forget_vanished(self, namespace: str | None, listed: set[str]) -> None:
        """Drop checkpoints of pods deleted while we were not running."""
        if self.options.selector:
            return  # a pod outside the selector may still exist
        for uid in list(self._points_by_uid):
            if uid in listed or uid in self._pods:
                continue
            namespaces = {
                self._points[f"{CHECKPOINT_PREFIX}{uid}:{c}:{r}"].namespace
                for c, r in self._points_by_uid[uid]
                if f"{CHECKPOINT_PREFIX}{uid}:{c}:{r}" in self._points
            }
            if namespace is None or namespace in namespaces:
                self._drop_points(uid, keep=set())

    def _send_infos(self, infos: Iterable[SourceInfo]) -> None:
        changed = []
        for info in infos:
            sig = (
                info.container_id,
                info.node,
                tuple(sorted((info.labels or {}).items())),
                info.state,
                info.reason,
                info.workload_kind,
                info.workload,
            )
            sent = self._sent.setdefault(info.key.pod_uid, {})
            if sent.get(info.key) != sig:
                sent[info.key] = sig
                changed.append(info)
        if changed and self._batcher is not None:
            self._batcher.add([], sources=changed)

    # -- task callbacks (stream threads) ---------------------------------------------------

    def _initial_done(self, task: InstanceStream) -> None:
        with self._lock:
            self._initial.discard(task)
            self._check_caught_up()

    def _check_caught_up(self) -> None:
        if self._caught_up_seq is None and self._scopes_unlisted <= 0 and not self._initial:
            assert self._batcher is not None
            self._caught_up_seq = self._batcher.mark()

    def _forget_task(self, task: InstanceStream) -> dict[SourceKey, InstanceStream]:
        """Remove a task from the registry; returns its pod's remaining tasks."""
        uid = task.key.pod_uid
        tasks = self._tasks.get(uid, {})
        if tasks.get(task.key) is task:
            del tasks[task.key]
        if not tasks:
            self._tasks.pop(uid, None)
        return tasks

    def _finished(self, task: InstanceStream) -> None:
        with self._lock:
            remaining = self._forget_task(task)
            uid = task.key.pod_uid
            if uid not in self._pods:
                self._drop_points(uid, keep={checkpoint_key(k) for k in remaining})

    def _node_up(self, node: str) -> None:
        """A node answers again: its containers ask now instead of after their wait."""
        with self._lock:
            tasks = [t for ts in self._tasks.values() for t in ts.values() if t.node == node]
        if self._scheduler is not None:
            for task in tasks:
                self._scheduler.wake(task)

    def _stream_opened(self, delta: int) -> None:
        with self._lock:
            self._open_streams += delta
            self._stats.streams_open = self._open_streams

    def _task_crashed(self, task: Task, exc: BaseException) -> None:
        self._stats.error(task.name, f"log reader failed: {type(exc).__name__}: {exc}")
        if isinstance(task, InstanceStream):
            # Forget it so the pod's next event starts the instance afresh from its
            # resume point, and so it does not hold up caught_up.
            with self._lock:
                self._forget_task(task)
                self._initial.discard(task)
                self._check_caught_up()
