"""Pod discovery for one scope (a namespace, or the cluster): list, then watch.

The protocol, as client-go's reflector speaks it: list (in pages) and remember the
list's resourceVersion; watch from it with bookmarks on; follow each event's
resourceVersion. A watch the server ends after `timeoutSeconds` is resumed from the
last version; a 410 Gone (as the HTTP status, or as an ERROR event whose Status has
code 410) means that version is compacted away, so we list again and let the
listener reconcile.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

from klogtui.collect.backoff import Backoff
from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.api import (
    KubeApi,
    KubeConnError,
    KubeHTTPError,
    Response,
    body_chunks,
)
from klogtui.collect.kube.errors import describe_conn, describe_http
from klogtui.collect.kube.lines import LineSplitter

__all__ = ["PodEvents", "PodWatcher", "WatchTimings"]

_MAX_EVENT_BYTES = 16 << 20  # a pod object is at most ~1.5 MiB (etcd's limit)


class PodEvents(Protocol):
    """Who hears about pods: the collector's registry."""

    def pods_listed(self, namespace: str | None, pods: list[dict[str, Any]], first: bool) -> None:
        """A full list of the scope (first: the one at start). Pods missing are gone."""

    def pod_changed(self, pod: dict[str, Any]) -> None:
        """A pod was added or modified."""

    def pod_deleted(self, pod: dict[str, Any]) -> None:
        """A pod was deleted (its last state)."""


@dataclass(frozen=True, slots=True)
class WatchTimings:
    """How discovery paces itself.

    Attributes:
        watch_timeout_s: the `timeoutSeconds` asked of the server per watch.
        read_margin_s: extra client-side read timeout beyond that (a dead connection).
        backoff_base_s: first retry delay after a failure; doubles, with jitter.
        backoff_max_s: the longest retry delay.
        page_size: pods per list page.
    """

    watch_timeout_s: int = 300
    read_margin_s: float = 30.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    page_size: int = 500


class _Relist(Exception):
    """The watch's resourceVersion is gone (410): list again."""


class PodWatcher:
    """Keeps `events` told about the pods of one scope, on its own thread.

    Args:
        api: the API layer.
        namespace: the namespace, or None for all namespaces.
        selector: a label selector, or None.
        field_selector: a field selector (e.g. ``spec.nodeName=node-1``), or None.
        events: the listener.
        stats: error reporting.
        timings: pacing.
        stopping: set when the collector stops.
    """

    def __init__(
        self,
        api: KubeApi,
        namespace: str | None,
        selector: str | None,
        events: PodEvents,
        stats: CollectorStats,
        timings: WatchTimings,
        stopping: threading.Event,
        field_selector: str | None = None,
    ) -> None:
        self._api = api
        self._ns = namespace
        self._selector = selector
        self._field_selector = field_selector
        self._events = events
        self._stats = stats
        self._t = timings
        self._stopping = stopping
        self._where = "pods " + ("(all namespaces)" if namespace is None else f"in {namespace}")
        if field_selector:
            self._where += f" ({field_selector})"
        self._path = "/api/v1/pods" if namespace is None else f"/api/v1/namespaces/{namespace}/pods"
        self._lock = threading.Lock()
        self._resp: Response | None = None
        self._backoff = Backoff(timings.backoff_base_s, timings.backoff_max_s)
        self.lists = 0  # completed lists (1 + re-lists), for tests and stats
        self._thread = threading.Thread(
            target=self._run, name=f"klogtui-kube-watch {namespace or '*'}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def interrupt(self) -> None:
        """Unblock a waiting watch (used when stopping)."""
        with self._lock:
            if self._resp is not None:
                try:
                    self._resp.shutdown()
                except (ValueError, RuntimeError, OSError):
                    pass

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- thread -----------------------------------------------------------------------

    def _run(self) -> None:
        rv: str | None = None
        while not self._stopping.is_set():
            try:
                if rv is None:
                    rv = self._list()
                started = time.monotonic()
                rv = self._watch(rv)
                self._backoff.reset()
                self._stats.forget_errors(self._where)
                if time.monotonic() - started < 1.0:
                    # A server (or proxy) that ends every watch at once must not make
                    # us spin; a real watch lasts for its timeoutSeconds.
                    self._stopping.wait(self._backoff.first_delay())
            except _Relist:
                rv = None
            except KubeHTTPError as e:
                action = "watch pods" if rv is not None else "list pods"
                self._stats.error(self._where, describe_http(e, action, self._ns, self._api.target))
                self._pause()
            except KubeConnError as e:
                self._stats.error(self._where, describe_conn(str(e), self._api.target))
                self._pause()

    def _pause(self) -> None:
        self._stopping.wait(self._backoff.failed())

    def _query(self) -> list[tuple[str, str]]:
        q = [("labelSelector", self._selector)] if self._selector else []
        if self._field_selector:
            q.append(("fieldSelector", self._field_selector))
        return q

    def _list(self) -> str:
        pods: list[dict[str, Any]] = []
        rv = ""
        token = ""
        while True:
            q = self._query() + [("limit", str(self._t.page_size))]
            if token:
                q.append(("continue", token))
            try:
                page = self._api.get_json(self._path, q, self._t.read_margin_s)
            except KubeHTTPError as e:
                if e.status == 410 and token:
                    # The continue token expired between pages: start the list over.
                    pods, rv, token = [], "", ""
                    continue
                raise
            meta = page.get("metadata") or {}
            if not rv:
                # Every page is served at the first page's version.
                rv = str(meta.get("resourceVersion") or "")
            pods.extend(p for p in page.get("items") or () if isinstance(p, dict))
            token = str(meta.get("continue") or "")
            if not token:
                break
        first = self.lists == 0
        self.lists += 1
        self._events.pods_listed(self._ns, pods, first)
        return rv

    def _watch(self, rv: str) -> str:
        """Watch from `rv` until the server ends the watch; returns the newest version."""
        t = self._t
        q = self._query() + [
            ("watch", "1"),
            ("resourceVersion", rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(t.watch_timeout_s)),
        ]
        try:
            resp = self._api.open(self._path, q, t.watch_timeout_s + t.read_margin_s)
        except KubeHTTPError as e:
            if e.status == 410:
                raise _Relist from e
            raise
        with self._lock:
            self._resp = resp
        splitter = LineSplitter(_MAX_EVENT_BYTES)
        clean = False
        try:
            for chunk in body_chunks(resp):
                for line, dropped in splitter.feed(chunk):
                    if dropped:
                        raise _Relist  # an event we could not hold: resynchronise
                    if line.strip():
                        rv = self._event(line, rv)
            clean = True
        except (urllib3.exceptions.HTTPError, OSError) as e:
            if not self._stopping.is_set():
                raise KubeConnError(f"watch broke: {type(e).__name__}") from e
        finally:
            with self._lock:
                self._resp = None
            if clean:
                resp.release_conn()
            else:
                resp.close()
                resp.release_conn()
        return rv

    def _event(self, line: bytes, rv: str) -> str:
        try:
            ev = json.loads(line)
            kind = ev["type"]
            obj = ev["object"]
        except (ValueError, KeyError, TypeError) as e:
            raise KubeConnError(f"malformed watch event ({e})") from e
        if kind == "ERROR":
            status = obj if isinstance(obj, dict) else {}
            code = status.get("code")
            if code == 410:
                raise _Relist
            raise KubeHTTPError(
                int(code or 500),
                str(status.get("reason") or "watch error"),
                str(status.get("message") or ""),
            )
        if not isinstance(obj, dict):
            raise KubeConnError("malformed watch event (object is not a pod)")
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind in ("ADDED", "MODIFIED"):
            self._events.pod_changed(obj)
        elif kind == "DELETED":
            self._events.pod_deleted(obj)
        # BOOKMARK: only the version moves on.
        return new_rv
