"""The pods endpoints: one pod, list (pages, resourceVersion), watch (events, bookmarks, 410)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from tests.kube_double.responder import Responder, status
from tests.kube_double.selectors import (
    FieldRequirement,
    Requirement,
    field_matches,
    matches,
    parse_field_selector,
    parse_selector,
)

__all__ = ["PodEndpoints"]


class PodEndpoints(Responder):
    """``GET /api/v1/pods`` and ``/api/v1/namespaces/{ns}/pods``: a list, or ``?watch=1``."""

    def _pods(self, ns: str | None, query: dict[str, list[str]]) -> None:
        watch = query.get("watch", [""])[0] in ("1", "true")
        if self._forbidden(ns, "pods", "watch" if watch else "list"):
            return
        try:
            reqs = parse_selector(query.get("labelSelector", [""])[0])
            fields = parse_field_selector(query.get("fieldSelector", [""])[0])
        except ValueError as e:
            self._json(400, status(400, "BadRequest", str(e)))
            return
        if watch:
            self._watch(ns, reqs, fields, query)
        else:
            self._list(ns, reqs, fields, query)

    def _pod(self, ns: str, name: str) -> None:
        """``GET /api/v1/namespaces/{ns}/pods/{name}``: one pod (kubectl logs asks first)."""
        if self._forbidden(ns, "pods", "get"):
            return
        with self.server.cluster.cond:
            pod = self.server.cluster.pods.get((ns, name))
            obj = None if pod is None else pod.to_json()
        if obj is None:
            self._json(404, status(404, "NotFound", f'pods "{name}" not found'))
        else:
            self._json(200, obj)

    def _list(
        self,
        ns: str | None,
        reqs: list[Requirement],
        fields: list[FieldRequirement],
        query: dict[str, list[str]],
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
                    status(
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
                    if (ns is None or p.namespace == ns)
                    and matches(reqs, p.labels)
                    and field_matches(fields, p.to_json())
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
        self,
        ns: str | None,
        reqs: list[Requirement],
        fields: list[FieldRequirement],
        query: dict[str, list[str]],
    ) -> None:
        cluster = self.server.cluster
        rv_text = query.get("resourceVersion", [""])[0]
        timeout = float(query.get("timeoutSeconds", ["0"])[0] or 0)
        bookmarks = query.get("allowWatchBookmarks", [""])[0] == "true"
        deadline = time.monotonic() + timeout if timeout else None

        def visible(obj: dict[str, Any]) -> bool:
            meta = obj["metadata"]
            return (
                (ns is None or meta["namespace"] == ns)
                and matches(reqs, meta["labels"])
                and field_matches(fields, obj)
            )

        gone = status(410, "Expired", "too old resource version")
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
