"""The double's state and the controls tests use: pods, logs, faults. No HTTP here.

`FakeCluster` keeps pods, their containers' log lines (rotated like the kubelet's),
the watch event history and its compaction, the RBAC refusals to give, and the open
log streams (so a test can break or silence them). The HTTP layer reads it under
its lock and waits on its conditions.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tests.kube_double.auth import Users
from tests.kube_double.model import Container, Instance, Pod

__all__ = ["FakeCluster", "LogConn", "Throttle"]


@dataclass
class Throttle:
    """API Priority and Fairness turning requests away: the next `remaining` requests
    that `match` get 429 Too Many Requests, with this Retry-After header (None: none)."""

    remaining: int
    retry_after: str | None = "1"
    match: Callable[[str, dict[str, list[str]]], bool] = lambda path, query: True

    def matches(self, path: str, query: dict[str, list[str]]) -> bool:
        return self.remaining > 0 and self.match(path, query)


class LogConn:
    """An open log stream, so tests can break or silence it."""

    def __init__(self, ns: str, pod: str, container: str, inst: Instance) -> None:
        self.ns, self.pod, self.container, self.inst = ns, pod, container, inst
        self.break_mid_line = False
        self.cut_after: int | None = None  # bytes still sent before the connection drops
        self.silent = False
        self.lines_sent = 0  # whole lines written


class FakeCluster:
    """The double's state and the controls tests use. Thread-safe.

    Args:
        token: the bearer token the server accepts (None: no auth check).
        chunk_size: split every streamed response into chunks of at most this many
            bytes (tiny values split lines and UTF-8 characters across chunks).
        bookmark_interval_s: BOOKMARK period on watches that allow them (0: never).
        keep_lines: lines kept per instance (0: all), like log rotation.
    """

    def __init__(
        self,
        token: str | None = "test-token",
        chunk_size: int = 0,
        bookmark_interval_s: float = 0.0,
        keep_lines: int = 0,
    ) -> None:
        self.token = token
        self.chunk_size = chunk_size
        self.bookmark_interval_s = bookmark_interval_s
        self.keep_lines = keep_lines
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)  # watches wait here
        self.namespaces: list[str] = ["default"]
        self.pods: dict[tuple[str, str], Pod] = {}
        self.rv = 1000
        self.events: list[tuple[int, str, dict[str, Any]]] = []  # (rv, type, pod json)
        self.compacted_rv = 0  # watches from an older version get 410
        self.gone_as_event = True  # 410 for a compacted version: ERROR event, or HTTP 410
        self.watch_gen = 0  # bumped to end open watches
        self.watch_end_with_error = False  # ... with an ERROR 410 event first
        self.forbidden_namespaces: set[str] = set()
        self.forbid_cluster_scope = False
        self.forbid_namespace_list = False
        self.forbid_logs = False  # pods/log refused everywhere (pods still listed)
        # Owners of pods by (kind, namespace, name), and plurals refused (workloads.py).
        self.workloads: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.forbidden_resources: set[str] = set()
        self.log_conns: list[LogConn] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.request_times: list[float] = []  # monotonic time of each of `requests`
        self.cert_users: set[str] = set()  # client certificate CNs accepted (over TLS)
        self.throttles: list[Throttle] = []
        self.throttled: list[tuple[float, str, dict[str, list[str]]]] = []  # 429s sent
        self.methods: list[tuple[str, str]] = []  # (method, path) of every request, any verb
        # Finished log responses: (pod, container, query, whole lines sent).
        self.log_served: list[tuple[str, str, dict[str, list[str]], int]] = []
        self.stopped = False
        self.open_watches = 0
        # What an open follow stream does when its file rotates: "follow" into the new
        # file (kubelet 1.29+), or, like older kubelets, "end" cleanly or "hang" silent.
        self.rotation_mode: Literal["follow", "end", "hang"] = "follow"
        # Nodes whose kubelet does not answer: log requests for their pods get a 500
        # after this many seconds (the API server's dial timeout).
        self.dead_nodes: dict[str, float] = {}
        self.users = Users()  # callers other than the collector, and what they may do
        self.pod_hosts: dict[tuple[str, str], str] = {}  # the pod proxy's targets: pod -> IP

    # -- helpers ---------------------------------------------------------------------

    def _bump(self, pod: Pod, kind: str) -> None:
        self.rv += 1
        pod.resource_version = self.rv
        self.events.append((self.rv, kind, pod.to_json()))
        self.cond.notify_all()

    def _pod(self, ns: str, name: str) -> Pod:
        return self.pods[(ns, name)]

    def _container(self, ns: str, pod: str, container: str) -> Container:
        return self.pods[(ns, pod)].containers[container]

    def _new_instance(self, rotate_bytes: int = 0) -> Instance:
        return Instance(
            "containerd://" + uuid.uuid4().hex,
            time.time_ns(),
            threading.Condition(self.lock),
            rotate_bytes=rotate_bytes,
        )

    def wake_all(self) -> None:
        """Wake every waiting handler (after a fault was set, or to stop)."""
        with self.lock:
            self.cond.notify_all()
            for pod in self.pods.values():
                for c in pod.containers.values():
                    for inst in c.instances:
                        inst.cond.notify_all()

    # -- pods --------------------------------------------------------------------------

    def add_namespace(self, ns: str) -> None:
        with self.cond:
            if ns not in self.namespaces:
                self.namespaces.append(ns)

    def add_pod(
        self,
        ns: str,
        name: str,
        containers: tuple[str, ...] | list[str] = ("app",),
        labels: dict[str, str] | None = None,
        node: str = "node-1",
        start: bool = True,
        init_containers: tuple[str, ...] = (),
        restart_on_exit: bool = True,
        rotate_bytes: int = 0,
        owners: list[dict[str, Any]] | None = None,
        ports: dict[str, int] | None = None,
    ) -> str:
        """Create a pod (its containers running unless start=False); returns its uid.

        rotate_bytes: rotate its containers' log files at this size (0: never).
        owners: its ownerReferences (see workloads.add_owned_pod).
        ports: its first container's named ports (the pod proxy's targets)."""
        with self.cond:
            self.add_namespace(ns)
            cs: dict[str, Container] = {}
            for c in init_containers:
                cs[c] = Container(c, init=True, restart_on_exit=False)
            for c in containers:
                cs[c] = Container(c, restart_on_exit=restart_on_exit, rotate_bytes=rotate_bytes)
                if start:
                    cs[c].instances.append(self._new_instance(rotate_bytes))
            pod = Pod(
                ns,
                name,
                str(uuid.uuid4()),
                dict(labels or {}),
                node,
                cs,
                created_ns=time.time_ns(),
                owners=list(owners or []),
                ports=dict(ports or {}),
            )
            self.pods[(ns, name)] = pod
            self._bump(pod, "ADDED")
            return pod.uid

    def start(self, ns: str, pod: str, container: str) -> None:
        """Start a new instance (the first, or a restart after a crash)."""
        with self.cond:
            c = self._container(ns, pod, container)
            cur = c.current()
            if cur is not None and cur.running:
                raise RuntimeError(f"{container} is running")
            c.instances.append(self._new_instance(c.rotate_bytes))
            self._bump(self._pod(ns, pod), "MODIFIED")

    def crash(
        self, ns: str, pod: str, container: str, exit_code: int = 1, reason: str = "Error"
    ) -> None:
        """The running instance exits; its streams end (the kubelet restarts it later)."""
        with self.cond:
            c = self._container(ns, pod, container)
            cur = c.current()
            if cur is None or not cur.running:
                raise RuntimeError(f"{container} is not running")
            cur.running = False
            cur.exit_code = exit_code
            cur.reason = reason
            cur.finished_ns = time.time_ns()
            cur.cond.notify_all()
            self._bump(self._pod(ns, pod), "MODIFIED")

    def restart(self, ns: str, pod: str, container: str) -> None:
        """Crash, then start the next instance (restartCount + 1)."""
        with self.cond:
            self.crash(ns, pod, container)
            self.start(ns, pod, container)

    def finish(self, ns: str, pod: str, container: str, exit_code: int = 0) -> None:
        """The container exits for good (restartPolicy Never / a finished job)."""
        with self.cond:
            c = self._container(ns, pod, container)
            c.restart_on_exit = False
            self.crash(ns, pod, container, exit_code, "Completed" if exit_code == 0 else "Error")

    def delete_pod(self, ns: str, name: str) -> None:
        """Stop the pod's containers and delete it (its logs are gone from the API)."""
        with self.cond:
            pod = self.pods.pop((ns, name))
            for c in pod.containers.values():
                cur = c.current()
                if cur is not None and cur.running:
                    cur.running = False
                    cur.reason = "Completed"
                    cur.finished_ns = time.time_ns()
                    cur.cond.notify_all()
            self._bump(pod, "DELETED")

    def terminate_pod(self, ns: str, name: str) -> None:
        """Start deleting the pod: deletionTimestamp is set, its containers still run
        (until `delete_pod`), as during the termination grace period."""
        with self.cond:
            pod = self._pod(ns, name)
            pod.deletion_ns = time.time_ns()
            self._bump(pod, "MODIFIED")

    def set_rotation(self, ns: str, pod: str, container: str, rotate_bytes: int) -> None:
        """Rotate the container's log file at this size, like the kubelet's
        containerLogMaxSize (default 10 MiB); the current and later instances."""
        with self.cond:
            c = self._container(ns, pod, container)
            c.rotate_bytes = rotate_bytes
            for inst in c.instances:
                inst.rotate_bytes = rotate_bytes

    def rotate(self, ns: str, pod: str, container: str) -> None:
        """Rotate the newest instance's log file now: new requests see only what follows."""
        with self.cond:
            inst = self._container(ns, pod, container).current()
            assert inst is not None
            inst.file_start = inst.end
            inst.file_bytes = 0
            inst.rotations += 1
            inst.cond.notify_all()

    def rotations(self, ns: str, pod: str, container: str) -> int:
        """Files of the container's newest instance rotated away so far."""
        with self.cond:
            inst = self._container(ns, pod, container).current()
            return 0 if inst is None else inst.rotations

    def touch(self, ns: str, name: str) -> None:
        """A MODIFIED event without a container change (e.g. a condition update)."""
        with self.cond:
            self._bump(self._pod(ns, name), "MODIFIED")

    # -- logs ----------------------------------------------------------------------------

    def log(
        self, ns: str, pod: str, container: str, text: str | bytes, ts_ns: int | None = None
    ) -> None:
        """Append one line to the container's newest instance."""
        data = text.encode() if isinstance(text, str) else text
        with self.cond:
            inst = self._container(ns, pod, container).current()
            if inst is None:
                raise RuntimeError(f"{container} never started")
            inst.append(time.time_ns() if ts_ns is None else ts_ns, data)
            self._trim(inst)
            inst.cond.notify_all()

    def emit(self, ns: str, pod: str, container: str, n: int, text: str = "line") -> list[int]:
        """Append n numbered lines "<text> seq=<k>"; returns their sequence numbers."""
        with self.cond:
            c = self._container(ns, pod, container)
            inst = c.current()
            if inst is None:
                raise RuntimeError(f"{container} never started")
            now = time.time_ns()
            first = c.seq
            for k in range(first, first + n):
                inst.append(now, f"{text} seq={k}".encode())
            c.seq += n
            self._trim(inst)
            inst.cond.notify_all()
            return list(range(first, first + n))

    def _trim(self, inst: Instance) -> None:
        keep = inst.max_lines or self.keep_lines
        if keep and len(inst.lines) > keep:
            cut = len(inst.lines) - keep
            del inst.lines[:cut]
            inst.base += cut

    def seq_of(self, ns: str, pod: str, container: str) -> int:
        """How many numbered lines the container emitted (over all its instances)."""
        with self.cond:
            return self._container(ns, pod, container).seq

    def last_ts(self, ns: str, pod: str, container: str) -> int:
        """Timestamp of the newest line of the container's newest instance."""
        with self.cond:
            inst = self._container(ns, pod, container).current()
            assert inst is not None and inst.lines
            return inst.lines[-1][0]

    def lines_of(self, ns: str, pod: str, container: str, restart: int) -> list[bytes]:
        """The text of every line an instance emitted (kept ones)."""
        with self.cond:
            c = self._container(ns, pod, container)
            return [t for _, t in c.instances[restart].lines]

    def written(
        self, ns: str, pod: str, container: str, restart: int = -1
    ) -> list[tuple[int, str]]:
        """(timestamp, text) of every line an instance wrote, rotated ones included."""
        with self.cond:
            inst = self._container(ns, pod, container).instances[restart]
            return [(ts, t.decode()) for ts, t in inst.lines]

    # -- faults --------------------------------------------------------------------------

    def break_streams(
        self, ns: str | None = None, pod: str | None = None, container: str | None = None
    ) -> int:
        """Open log streams send half of their next line, then the connection drops."""
        return self._mark(ns, pod, container, "break_mid_line")

    def cut_streams(self, after_bytes: int, ns: str, pod: str, container: str) -> int:
        """Open log streams of the container send `after_bytes` more bytes of their
        answer (wherever that falls: inside a line, inside a stack trace), then drop."""
        with self.cond:
            n = 0
            for conn in self.log_conns:
                if (conn.ns, conn.pod, conn.container) == (ns, pod, container):
                    conn.cut_after = after_bytes
                    n += 1
            return n

    def silence_streams(
        self, ns: str | None = None, pod: str | None = None, container: str | None = None
    ) -> int:
        """Open log streams stop sending anything but stay open (a dead peer)."""
        return self._mark(ns, pod, container, "silent")

    def _mark(self, ns: str | None, pod: str | None, container: str | None, attr: str) -> int:
        with self.cond:
            n = 0
            for conn in self.log_conns:
                if (
                    (ns is None or conn.ns == ns)
                    and (pod is None or conn.pod == pod)
                    and (container is None or conn.container == container)
                ):
                    setattr(conn, attr, True)
                    conn.inst.cond.notify_all()
                    n += 1
            return n

    def open_log_streams(self, ns: str | None = None, pod: str | None = None) -> int:
        with self.cond:
            return sum(
                1
                for c in self.log_conns
                if (ns is None or c.ns == ns) and (pod is None or c.pod == pod) and not c.silent
            )

    def expire_watches(self, as_event: bool = True) -> None:
        """Compact history: open watches end, their versions answer 410 Gone.

        Args:
            as_event: open watches get an ERROR event with a 410 Status and new
                watches from an old version get the same event (the watch cache's way);
                False: open watches just end and new ones get HTTP 410.
        """
        with self.cond:
            self.compacted_rv = self.rv
            self.gone_as_event = as_event
            self.watch_end_with_error = as_event
            self.watch_gen += 1
            self.cond.notify_all()

    def end_watches(self) -> None:
        """End open watches cleanly, as the server's watch timeout does."""
        with self.cond:
            self.watch_end_with_error = False
            self.watch_gen += 1
            self.cond.notify_all()

    def requests_to(self, suffix: str) -> list[dict[str, list[str]]]:
        """Query parameters of the requests whose path ends with `suffix`."""
        with self.cond:
            return [q for p, q in self.requests if p.endswith(suffix)]

    # -- churn -----------------------------------------------------------------------------

    def churn(
        self, ns: str, pods: int, lines_each: int, life_s: float, gap_s: float, grace_s: float
    ) -> threading.Thread:
        """Start a thread creating short-lived pods: each emits lines over its life,
        exits, and is deleted `grace_s` later. Lines are "<pod> seq=<k>"."""

        def run() -> None:
            pending: list[tuple[float, str]] = []
            for i in range(pods):
                name = f"churn-{i}"
                self.add_pod(ns, name, labels={"app": "churn"})
                step = life_s / max(1, lines_each)
                for _ in range(lines_each):
                    self.emit(ns, name, "app", 1, name)
                    time.sleep(step)
                self.finish(ns, name, "app")
                pending.append((time.monotonic() + grace_s, name))
                while pending and pending[0][0] <= time.monotonic():
                    self.delete_pod(ns, pending.pop(0)[1])
                time.sleep(gap_s)
            for due, name in pending:
                time.sleep(max(0.0, due - time.monotonic()))
                self.delete_pod(ns, name)

        t = threading.Thread(target=run, name="kube-double-churn", daemon=True)
        t.start()
        return t
