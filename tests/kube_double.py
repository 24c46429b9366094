"""A Kubernetes API test double: a real HTTP server on 127.0.0.1 speaking the REST protocol.

The official `kubernetes` client (and so klogtui's collector) talks to it over real
HTTP through a generated kubeconfig. It serves what remote mode uses:

- ``GET /api/v1/namespaces``; ``GET /api/v1/pods`` and ``/api/v1/namespaces/{ns}/pods``:
  lists (resourceVersion, labelSelector, limit/continue) and ``?watch=1`` streams of
  JSON lines (ADDED / MODIFIED / DELETED / BOOKMARK / ERROR) with ``timeoutSeconds``;
  a compacted resourceVersion answers 410 Gone, as the HTTP status or as an ERROR event.
- ``GET /api/v1/namespaces/{ns}/pods/{pod}/log``: container, follow, timestamps,
  sinceTime (cut to the second, as the kubelet receives it), sinceSeconds, tailLines,
  previous, limitBytes, with the kubelet's choice of instance (see `Container`).
- Bearer token check: 401 without the token, 403 for forbidden namespaces or scopes.

Tests drive it through `FakeCluster`: add pods, emit numbered lines, crash / restart /
finish containers, delete pods, break log connections mid-line, make streams silent,
expire or end watches, and split responses into tiny chunks. Everything a client
reads comes from real sockets; nothing of klogtui is imported here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FakeCluster",
    "KubeDouble",
    "format_ts",
    "parse_ts",
    "wait_for",
    "write_kubeconfig",
]

NS = 1_000_000_000


# ----------------------------------------------------------------------------- time


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll until `predicate()` is true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


_HEADS: dict[int, str] = {}


def format_ts(ts_ns: int) -> str:
    """Go's RFC3339Nano: UTC, trailing zeros of the fraction trimmed."""
    sec, frac = divmod(ts_ns, NS)
    head = _HEADS.get(sec)
    if head is None:
        if len(_HEADS) > 4096:
            _HEADS.clear()
        head = _HEADS[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac:
        return f"{head}.{frac:09d}".rstrip("0") + "Z"
    return head + "Z"


def parse_ts(text: str) -> int:
    """RFC 3339 (any fraction, Z or offset) to UTC ns."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", text)
    if m is None:
        raise ValueError(text)
    base = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3]))
    return int(base.timestamp()) * NS + int((m[2] or "0").ljust(9, "0"))


# ----------------------------------------------------------------------------- model


@dataclass
class Instance:
    """One run of a container: its log lines and whether it still runs."""

    container_id: str
    started_ns: int
    cond: threading.Condition  # shares the cluster's lock; followers of this instance wait here
    lines: list[tuple[int, bytes]] = field(default_factory=list)  # (ts, text without LF)
    base: int = 0  # lines rotated away before lines[0] (absolute index of lines[0])
    running: bool = True
    exit_code: int = 0
    reason: str = ""
    finished_ns: int = 0
    max_lines: int = 0  # keep at most this many (0: all), like log rotation

    @property
    def end(self) -> int:
        """Absolute index after the newest line."""
        return self.base + len(self.lines)


@dataclass
class Container:
    """A container with its instances, newest last.

    The kubelet's rules, which the log endpoint follows: restartCount is the newest
    instance's number; while the container waits in CrashLoopBackOff its lastState is
    that newest (dead) instance and both the current and the previous log show it;
    otherwise previous=true shows the instance before the newest.
    """

    name: str
    instances: list[Instance] = field(default_factory=list)
    waiting_reason: str = "ContainerCreating"  # used while no instance runs and restart is due
    restart_on_exit: bool = True
    seq: int = 0  # numbered lines emitted so far
    init: bool = False

    @property
    def state(self) -> str:
        if not self.instances:
            return "waiting"
        if self.instances[-1].running:
            return "running"
        return "waiting" if self.restart_on_exit else "terminated"

    def status(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "name": self.name,
            "image": "registry.example/app:1",
            "imageID": "",
            "ready": self.state == "running",
            "restartCount": max(0, len(self.instances) - 1),
            "started": self.state == "running",
        }
        state = self.state
        if state == "running":
            cur = self.instances[-1]
            st["containerID"] = cur.container_id
            st["state"] = {"running": {"startedAt": _iso(cur.started_ns)}}
            prev = self.instances[-2] if len(self.instances) > 1 else None
        elif state == "terminated":
            cur = self.instances[-1]
            st["containerID"] = cur.container_id
            st["state"] = {"terminated": _terminated(cur)}
            prev = self.instances[-2] if len(self.instances) > 1 else None
        else:
            reason = "CrashLoopBackOff" if self.instances else self.waiting_reason
            st["state"] = {"waiting": {"reason": reason}}
            prev = self.instances[-1] if self.instances else None
        st["lastState"] = {"terminated": _terminated(prev)} if prev is not None else {}
        return st

    def current(self) -> Instance | None:
        return self.instances[-1] if self.instances else None

    def previous(self) -> Instance | None:
        if self.state == "waiting":
            return self.instances[-1] if self.instances else None
        return self.instances[-2] if len(self.instances) > 1 else None


def _iso(ts_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ns // NS))


def _terminated(inst: Instance) -> dict[str, Any]:
    return {
        "exitCode": inst.exit_code,
        "reason": inst.reason or ("Completed" if inst.exit_code == 0 else "Error"),
        "startedAt": _iso(inst.started_ns),
        "finishedAt": _iso(inst.finished_ns or inst.started_ns),
        "containerID": inst.container_id,
    }


@dataclass
class Pod:
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    node: str
    containers: dict[str, Container]
    resource_version: int = 0
    created_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        inits = [c for c in self.containers.values() if c.init]
        mains = [c for c in self.containers.values() if not c.init]
        states = [c.state for c in mains]
        if all(s == "terminated" for s in states):
            codes = [c.instances[-1].exit_code for c in mains if c.instances]
            phase = "Succeeded" if all(x == 0 for x in codes) else "Failed"
        elif any(c.instances for c in mains):
            phase = "Running"
        else:
            phase = "Pending"
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": "10.0.0.1",
            "podIP": "10.1.0.7",
            "containerStatuses": [c.status() for c in mains],
        }
        if inits:
            status["initContainerStatuses"] = [c.status() for c in inits]
        spec: dict[str, Any] = {
            "nodeName": self.node,
            "restartPolicy": "Always",
            "containers": [{"name": c.name, "image": "registry.example/app:1"} for c in mains],
        }
        if inits:
            spec["initContainers"] = [{"name": c.name, "image": "busybox"} for c in inits]
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": str(self.resource_version),
                "creationTimestamp": _iso(self.created_ns),
                "labels": dict(self.labels),
            },
            "spec": spec,
            "status": status,
        }


# ----------------------------------------------------------------------------- selectors


def _selector(text: str) -> list[tuple[str, str, set[str]]]:
    """Parse a label selector into (key, op, values); ValueError if malformed."""
    reqs: list[tuple[str, str, set[str]]] = []
    for part in re.split(r",(?![^(]*\))", text.strip()) if text.strip() else []:
        part = part.strip()
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            reqs.append((m[1], m[2], {v.strip() for v in m[3].split(",") if v.strip()}))
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", part)
        if m:
            reqs.append((m[1], "!=" if m[2] == "!=" else "=", {m[3]}))
            continue
        m = re.fullmatch(r"(!?)([\w./-]+)", part)
        if m:
            reqs.append((m[2], "!exists" if m[1] else "exists", set()))
            continue
        raise ValueError(f"unable to parse requirement: {part!r}")
    return reqs


def _matches(reqs: list[tuple[str, str, set[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in reqs:
        v = labels.get(key)
        if op == "=" and v not in values:
            return False
        if op == "!=" and v in values:
            return False
        if op == "in" and v not in values:
            return False
        if op == "notin" and v in values:
            return False
        if op == "exists" and v is None:
            return False
        if op == "!exists" and v is not None:
            return False
    return True


# ----------------------------------------------------------------------------- cluster


class _LogConn:
    """An open log stream, so tests can break or silence it."""

    def __init__(self, ns: str, pod: str, container: str, inst: Instance) -> None:
        self.ns, self.pod, self.container, self.inst = ns, pod, container, inst
        self.break_mid_line = False
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
        self.log_conns: list[_LogConn] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.methods: list[tuple[str, str]] = []  # (method, path) of every request, any verb
        # Finished log responses: (pod, container, query, whole lines sent).
        self.log_served: list[tuple[str, str, dict[str, list[str]], int]] = []
        self.stopped = False
        self.open_watches = 0

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

    def _new_instance(self) -> Instance:
        return Instance(
            "containerd://" + uuid.uuid4().hex, time.time_ns(), threading.Condition(self.lock)
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
    ) -> str:
        """Create a pod (its containers running unless start=False); returns its uid."""
        with self.cond:
            self.add_namespace(ns)
            cs: dict[str, Container] = {}
            for c in init_containers:
                cs[c] = Container(c, init=True, restart_on_exit=False)
            for c in containers:
                cs[c] = Container(c, restart_on_exit=restart_on_exit)
                if start:
                    cs[c].instances.append(self._new_instance())
            pod = Pod(
                ns, name, str(uuid.uuid4()), dict(labels or {}), node, cs, created_ns=time.time_ns()
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
            c.instances.append(self._new_instance())
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
            inst.lines.append((time.time_ns() if ts_ns is None else ts_ns, data))
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
                inst.lines.append((now, f"{text} seq={k}".encode()))
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

    # -- faults --------------------------------------------------------------------------

    def break_streams(
        self, ns: str | None = None, pod: str | None = None, container: str | None = None
    ) -> int:
        """Open log streams send half of their next line, then the connection drops."""
        return self._mark(ns, pod, container, "break_mid_line")

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


# ----------------------------------------------------------------------------- HTTP


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def parse_request(self) -> bool:
        # Every verb is logged, also those the double does not serve (they get 501).
        ok = super().parse_request()
        if ok:
            with self.server.cluster.cond:
                self.server.cluster.methods.append((self.command, self.path))
        return ok

    # -- plumbing -------------------------------------------------------------------------

    def _json(self, code: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        if not data:
            return  # an empty chunk would end the body
        size = self.server.cluster.chunk_size or len(data)
        for i in range(0, len(data), size):
            part = data[i : i + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Drop the connection without ending the chunked body (a broken connection)."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _client_gone(self) -> bool:
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    # -- routing --------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        cluster = self.server.cluster
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path.rstrip("/")
        with cluster.cond:
            cluster.requests.append((path, query))
        if cluster.token is not None:
            if self.headers.get("Authorization") != f"Bearer {cluster.token}":
                self._json(401, _status(401, "Unauthorized", "Unauthorized"))
                return
        try:
            if path == "/api/v1/namespaces":
                self._namespaces()
                return
            if path == "/api/v1/pods":
                self._pods(None, query)
                return
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path)
            if m:
                self._pods(m[1], query)
                return
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", path)
            if m:
                self._log(m[1], m[2], query)
                return
            self._json(
                404, _status(404, "NotFound", "the server could not find the requested resource")
            )
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _forbidden(self, ns: str | None, resource: str, verb: str) -> bool:
        cluster = self.server.cluster
        if ns is None and cluster.forbid_cluster_scope:
            where = "at the cluster scope"
        elif ns is not None and ns in cluster.forbidden_namespaces:
            where = f'in the namespace "{ns}"'
        else:
            return False
        msg = (
            f'{resource.split("/")[0]} is forbidden: User "system:serviceaccount:test:'
            f'klogtui" cannot {verb} resource "{resource}" in API group "" {where}'
        )
        self._json(403, _status(403, "Forbidden", msg))
        return True

    def _namespaces(self) -> None:
        cluster = self.server.cluster
        if cluster.forbid_namespace_list:
            self._json(
                403,
                _status(
                    403,
                    "Forbidden",
                    "namespaces is forbidden: User "
                    '"system:serviceaccount:test:klogtui" cannot list '
                    'resource "namespaces" in API group "" at the cluster '
                    "scope",
                ),
            )
            return
        with cluster.cond:
            items = [
                {
                    "kind": "Namespace",
                    "apiVersion": "v1",
                    "metadata": {"name": ns, "uid": ns},
                    "status": {"phase": "Active"},
                }
                for ns in cluster.namespaces
            ]
            rv = cluster.rv
        self._json(
            200,
            {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
        )

    # -- pods: list and watch ------------------------------------------------------------------

    def _pods(self, ns: str | None, query: dict[str, list[str]]) -> None:
        watch = query.get("watch", [""])[0] in ("1", "true")
        if self._forbidden(ns, "pods", "watch" if watch else "list"):
            return
        try:
            reqs = _selector(query.get("labelSelector", [""])[0])
        except ValueError as e:
            self._json(400, _status(400, "BadRequest", str(e)))
            return
        if watch:
            self._watch(ns, reqs, query)
        else:
            self._list(ns, reqs, query)

    def _list(
        self, ns: str | None, reqs: list[tuple[str, str, set[str]]], query: dict[str, list[str]]
    ) -> None:
        cluster = self.server.cluster
        limit = int(query.get("limit", ["0"])[0] or 0)
        token = query.get("continue", [""])[0]
        start, rv = 0, None
        if token:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            start, rv = int(state["start"]), int(state["rv"])
        with cluster.cond:
            if rv is not None and rv < cluster.compacted_rv:
                self._json(
                    410,
                    _status(
                        410,
                        "Expired",
                        "The provided continue parameter is "
                        "too old to display a consistent list result.",
                    ),
                )
                return
            rv = cluster.rv if rv is None else rv
            pods = sorted(
                (
                    p
                    for p in cluster.pods.values()
                    if (ns is None or p.namespace == ns) and _matches(reqs, p.labels)
                ),
                key=lambda p: (p.namespace, p.name),
            )
            page = pods[start : start + limit] if limit else pods[start:]
            items = [p.to_json() for p in page]
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if limit and start + limit < len(pods):
                meta["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"start": start + limit, "rv": rv}).encode()
                ).decode()
        self._json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})

    def _watch(
        self, ns: str | None, reqs: list[tuple[str, str, set[str]]], query: dict[str, list[str]]
    ) -> None:
        cluster = self.server.cluster
        rv_text = query.get("resourceVersion", [""])[0]
        timeout = float(query.get("timeoutSeconds", ["0"])[0] or 0)
        bookmarks = query.get("allowWatchBookmarks", [""])[0] == "true"
        deadline = time.monotonic() + timeout if timeout else None

        def visible(obj: dict[str, Any]) -> bool:
            meta = obj["metadata"]
            return (ns is None or meta["namespace"] == ns) and _matches(reqs, meta["labels"])

        gone = _status(410, "Expired", "too old resource version")
        with cluster.cond:
            since = int(rv_text) if rv_text not in ("", "0") else None
            if since is not None and since < cluster.compacted_rv and not cluster.gone_as_event:
                self._json(410, gone)
                return
            self._start_stream("application/json")
            if since is not None and since < cluster.compacted_rv:
                self._chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                self._end_stream()
                return
            if since is None:
                initial = [("ADDED", p.to_json()) for p in cluster.pods.values()]
                since = cluster.rv
            else:
                initial = []
            idx = len(cluster.events)
            while idx > 0 and cluster.events[idx - 1][0] > since:
                idx -= 1
            gen = cluster.watch_gen
            cluster.open_watches += 1
        try:
            for kind, obj in initial:
                if visible(obj):
                    self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            next_bookmark = time.monotonic() + cluster.bookmark_interval_s
            while True:
                with cluster.cond:
                    while (
                        idx >= len(cluster.events)
                        and gen == cluster.watch_gen
                        and not cluster.stopped
                    ):
                        now = time.monotonic()
                        waits = [1.0]
                        if deadline is not None:
                            waits.append(deadline - now)
                        if bookmarks and cluster.bookmark_interval_s:
                            waits.append(next_bookmark - now)
                        wait = min(waits)
                        if wait <= 0:
                            break
                        cluster.cond.wait(wait)
                    batch = cluster.events[idx:]
                    idx = len(cluster.events)
                    ended = gen != cluster.watch_gen or cluster.stopped
                    with_error = ended and cluster.watch_end_with_error
                    if ended and batch and batch[-1][0] <= cluster.compacted_rv:
                        batch = []  # compacted before this watch sent it: lost to it
                    rv_now = cluster.rv
                out = b"".join(
                    json.dumps({"type": k, "object": o}).encode() + b"\n"
                    for _, k, o in batch
                    if visible(o)
                )
                now = time.monotonic()
                if bookmarks and cluster.bookmark_interval_s and now >= next_bookmark:
                    next_bookmark = now + cluster.bookmark_interval_s
                    out += (
                        json.dumps(
                            {
                                "type": "BOOKMARK",
                                "object": {
                                    "kind": "Pod",
                                    "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(rv_now)},
                                },
                            }
                        ).encode()
                        + b"\n"
                    )
                if out:
                    self._chunk(out)
                if ended:
                    if with_error:
                        self._chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                    self._end_stream()
                    return
                if deadline is not None and now >= deadline:
                    self._end_stream()
                    return
        finally:
            with cluster.cond:
                cluster.open_watches -= 1

    # -- logs ----------------------------------------------------------------------------------

    def _log(self, ns: str, name: str, query: dict[str, list[str]]) -> None:
        cluster = self.server.cluster
        if self._forbidden(ns, "pods/log", "get"):
            return

        def flag(key: str) -> bool:
            return query.get(key, ["false"])[0] in ("true", "1")

        follow, previous, timestamps = flag("follow"), flag("previous"), flag("timestamps")
        with cluster.cond:
            pod = cluster.pods.get((ns, name))
            if pod is None:
                self._json(404, _status(404, "NotFound", f'pods "{name}" not found'))
                return
            cname = query.get("container", [""])[0]
            if not cname:
                if len(pod.containers) != 1:
                    names = " ".join(pod.containers)
                    self._json(
                        400,
                        _status(
                            400,
                            "BadRequest",
                            "a container name must be "
                            f"specified for pod {name}, choose one of: "
                            f"[{names}]",
                        ),
                    )
                    return
                cname = next(iter(pod.containers))
            c = pod.containers.get(cname)
            if c is None:
                self._json(
                    400,
                    _status(400, "BadRequest", f"container {cname} is not valid for pod {name}"),
                )
                return
            inst = c.previous() if previous else c.current()
            if inst is None:
                msg = (
                    f'previous terminated container "{cname}" in pod "{name}" not found'
                    if previous
                    else f'container "{cname}" in pod "{name}" is waiting to start: '
                    f"{c.waiting_reason}"
                )
                self._json(400, _status(400, "BadRequest", msg))
                return
            since_ns: int | None = None
            if "sinceTime" in query:
                try:
                    # The kubelet gets sinceTime as a metav1.Time: whole seconds.
                    since_ns = parse_ts(query["sinceTime"][0]) // NS * NS
                except ValueError:
                    self._json(400, _status(400, "BadRequest", "invalid sinceTime"))
                    return
            elif "sinceSeconds" in query:
                since_ns = time.time_ns() - int(query["sinceSeconds"][0]) * NS
            pos = inst.base
            if "tailLines" in query:
                pos = max(inst.base, inst.end - int(query["tailLines"][0]))
            limit = int(query.get("limitBytes", ["0"])[0] or 0)
            conn = _LogConn(ns, name, cname, inst)
            cluster.log_conns.append(conn)
            follow = follow and inst.running
        sent = 0
        try:
            self._start_stream("text/plain")
            while True:
                with cluster.cond:
                    while True:
                        if conn.silent or cluster.stopped:
                            # A dead peer: say nothing until the client gives up.
                            if cluster.stopped or self._client_gone():
                                self._abort()
                                return
                            inst.cond.wait(0.2)
                            continue
                        if pos < inst.base:
                            pos = inst.base  # rotated away while we were behind
                        if pos < inst.end or not follow or not inst.running:
                            break
                        if not inst.cond.wait(1.0) and self._client_gone():
                            self._abort()
                            return
                    lines = inst.lines[pos - inst.base :]
                    pos = inst.end
                    running = inst.running
                    broken = conn.break_mid_line
                out: list[bytes] = []
                for ts, text in lines:
                    if since_ns is not None and ts < since_ns:
                        continue
                    line = (format_ts(ts).encode() + b" " + text if timestamps else text) + b"\n"
                    if broken:
                        half = max(1, len(line) // 2)
                        self._chunk(b"".join(out) + line[:half])
                        self._abort()
                        return
                    out.append(line)
                data = b"".join(out)
                if limit and sent + len(data) >= limit:
                    self._chunk(data[: limit - sent])
                    self._end_stream()
                    return
                sent += len(data)
                if data:
                    self._chunk(data)
                    conn.lines_sent += len(out)
                if not follow or not running:
                    self._end_stream()
                    return
        finally:
            with cluster.cond:
                cluster.log_conns.remove(conn)
                cluster.log_served.append((name, cname, query, conn.lines_sent))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Enough for hundreds of concurrent streams connecting at once.
    request_queue_size = 1024
    cluster: FakeCluster

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on streams all the time (that is half of what we test).
        pass


class KubeDouble:
    """The HTTP server around a FakeCluster; use as a context manager.

    Args:
        cluster: the state to serve (a fresh one by default).
    """

    def __init__(self, cluster: FakeCluster | None = None) -> None:
        self.cluster = cluster or FakeCluster()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.cluster = self.cluster
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-double",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> KubeDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.cluster.lock:
            self.cluster.stopped = True
            self.cluster.wake_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> KubeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(
        self,
        path: Path | str,
        token: str | None = None,
        namespace: str = "default",
        context: str = "double",
    ) -> Path:
        """Write a kubeconfig pointing at this server; returns its path."""
        return write_kubeconfig(
            path,
            self.url,
            token if token is not None else self.cluster.token or "",
            namespace=namespace,
            context=context,
        )


def write_kubeconfig(
    path: Path | str, server: str, token: str, namespace: str = "default", context: str = "double"
) -> Path:
    """Write a kubeconfig (JSON is YAML) with one cluster, user and context."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": token} if token else {}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": "double", "user": "tester", "namespace": namespace},
            }
        ],
        "current-context": context,
    }
    p = Path(path)
    p.write_text(json.dumps(cfg, indent=1))
    os.chmod(p, 0o600)
    return p
