"""Every node's matching lines merged into one timeline: each node read by its own
cursors (newest-N paging back, or all of them paging forward), then merged by time.

A line is the node's JSON object as it sent it (`klogtui query -o jsonl` plus its
`cursor`), kept as text too, so printing it as JSON is the node's own bytes. Lines of
different nodes with the same timestamp keep a stable order: by node, then cursor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from klogtui.model import Level
from klogtui.remote.collectors import Collector
from klogtui.remote.fanout import FanOut, NodeDown

__all__ = ["LEVELS", "PAGE", "NodeLine", "merged", "node_lines", "read_after", "read_newest"]

PAGE = 5_000  # the query API's largest answer (klogtui.serve.limits)
LEVELS = {(lv.label or "none"): lv for lv in Level}  # a line's `level`, as the API names it


@dataclass(frozen=True, slots=True)
class NodeLine:
    """One event as a node gave it."""

    node: int  # the collector's place in the list read
    cursor: int  # the node's own id for it: unique on that node, in its time order
    obj: dict[str, Any]
    raw: str  # the object's JSON text, cursor included

    @property
    def key(self) -> tuple[str, int, int]:
        # RFC 3339 with nine fraction digits in UTC: text order is time order.
        return (str(self.obj["ts"]), self.node, self.cursor)

    def jsonl(self) -> str:
        """The line as `klogtui query -o jsonl` prints it on the node (no cursor)."""
        head, sep, _ = self.raw.rpartition(', "cursor": ')
        return head + "}" if sep else self.raw


def node_lines(node: int, collector: Collector, body: bytes) -> list[NodeLine]:
    """A /lines or /tail answer's events.

    Raises:
        NodeDown: a line that is not one of the API's objects.
    """
    out: list[NodeLine] = []
    for raw in body.decode("utf-8", "replace").splitlines():
        if not raw:
            continue
        try:
            obj = json.loads(raw)
            out.append(NodeLine(node, int(obj["cursor"]), obj, raw))
        except (ValueError, KeyError, TypeError) as e:
            raise NodeDown(collector.name, f"it sent a line that is not an event ({e})") from e
    return out


def _page(
    fan: FanOut, node: int, collector: Collector, query: str, limit: int, edge: tuple[str, int]
) -> list[NodeLine]:
    params = [("q", query), ("limit", str(limit))]
    if edge[0]:
        params.append((edge[0], str(edge[1])))
    body, _ = fan.get(collector, "/api/v1/lines", params)
    return node_lines(node, collector, body)


def read_newest(
    fan: FanOut,
    node: int,
    collector: Collector,
    query: str,
    limit: int,
    before: int | None = None,
) -> list[NodeLine]:
    """The node's newest `limit` matches (before the cursor `before`, if given), oldest
    first, paging back."""
    pages: list[list[NodeLine]] = []
    taken = 0
    edge: tuple[str, int] = ("", 0) if before is None else ("before", before)
    while taken < limit:
        want = min(PAGE, limit - taken)
        page = _page(fan, node, collector, query, want, edge)
        pages.append(page)
        taken += len(page)
        if len(page) < want:
            break
        edge = ("before", page[0].cursor)
    return [ln for page in reversed(pages) for ln in page]


def read_after(
    fan: FanOut, node: int, collector: Collector, query: str, cursor: int, limit: int = 0
) -> list[NodeLine]:
    """The node's oldest `limit` matches (0: every one) past `cursor` (0: from its
    oldest), oldest first, paging forward."""
    out: list[NodeLine] = []
    edge: tuple[str, int] = ("after", cursor)
    while True:
        want = PAGE if not limit else min(PAGE, limit - len(out))
        page = _page(fan, node, collector, query, want, edge)
        out += page
        if len(page) < want or (limit and len(out) >= limit):
            return out
        edge = ("after", page[-1].cursor)


def merged(per_node: list[list[NodeLine]], limit: int = 0) -> list[NodeLine]:
    """The nodes' lines as one timeline, oldest first; with `limit`, its newest that many.

    Each node's list is already in its own order, so the sort only merges runs.
    """
    out = sorted((ln for lines in per_node for ln in lines), key=lambda ln: ln.key)
    return out[-limit:] if limit else out
