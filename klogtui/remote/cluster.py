"""The cluster as the explorer's readers share it: its collectors, one registry of every
node's sources under ids of our own, the nodes that do not answer, and tails that tell
when any node stored something new.

Line ids are the node's own id (its cursor) shifted left by NODE_BITS with the node's
place in the list below: still in time order, unique across nodes, and split back into
the cursors each node pages by.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from klogtui.formats.timestamps import parse_timestamp
from klogtui.model import Source, SourceKey
from klogtui.remote.collectors import Collector, Found
from klogtui.remote.fanout import FanOut, NodeDown

__all__ = ["NODE_BITS", "RemoteCluster", "join_id", "split_id"]

NODE_BITS = 16  # up to 65,536 nodes
_NODE_MASK = (1 << NODE_BITS) - 1
_SOURCES_EVERY_S = 2.0  # the nodes' /sources asked again at most this often
_TAIL_RETRY_S = 2.0
_KEEP_LINES = 50_000  # line id -> source id of the lines read lately, for `context`

T = TypeVar("T")


def join_id(cursor: int, node: int) -> int:
    return cursor << NODE_BITS | node


def split_id(line_id: int) -> tuple[int, int]:
    """(cursor, node) of one of our line ids."""
    return line_id >> NODE_BITS, line_id & _NODE_MASK


def _ts(text: object) -> int:
    try:
        return parse_timestamp(str(text)) if text else 0
    except ValueError:
        return 0


class RemoteCluster:
    """The state the readers of one explorer share (each reader is one pane's).

    Args:
        fan: the requests through the pod proxy.
        found: the collector pods, and those that cannot answer.
    """

    def __init__(self, fan: FanOut, found: Found, namespace: str) -> None:
        self.fan = fan
        self.collectors = list(found.ready)
        self.namespace = namespace
        self._lock = threading.Lock()
        self._not_ready = dict(found.missing)  # pod name -> why, for the whole session
        self._down: dict[str, str] = {}  # node name -> why its last request failed
        self._ids: dict[tuple[int, str, str, str, int, str], int] = {}
        self._sources: dict[int, Source] = {}
        self._sources_at = -float("inf")
        self._line_sources: OrderedDict[int, int] = OrderedDict()
        self._generation = 0
        self._stopping = threading.Event()

    # -- fan-out with the missing nodes kept ---------------------------------------------

    def each(self, call: Callable[[int, Collector], T]) -> list[T]:
        """call(node, collector) on every node at once; a node that fails is recorded
        as missing (and no longer once it answers again)."""
        index = {c: i for i, c in enumerate(self.collectors)}
        got, down = self.fan.each(self.collectors, lambda c: call(index[c], c))
        with self._lock:
            before = dict(self._down)
            for c, _ in got:
                self._down.pop(c.name, None)
            for _, e in down:
                self._down[e.name] = e.reason
            if before.keys() != self._down.keys():
                self._generation += 1
        return [result for _, result in got]

    def one(self, node: int, call: Callable[[Collector], T], empty: T) -> T:
        """call(collector) on one node; `empty` if it is down (recorded as missing)."""
        c = self.collectors[node]
        try:
            result = call(c)
        except NodeDown as e:
            with self._lock:
                self._down[e.name] = e.reason
            return empty
        with self._lock:
            self._down.pop(c.name, None)
        return result

    def missing(self) -> list[str]:
        """Each part of the cluster not read, with why: `node-1 (pod): reason`."""
        with self._lock:
            parts = {**self._not_ready, **self._down}
        return [f"{name}: {why}" for name, why in sorted(parts.items())]

    def node_count(self) -> int:
        """Nodes with a collector pod: those that answer, are down, or are not ready."""
        return len(self.collectors) + len(self._not_ready)

    @property
    def generation(self) -> int:
        """Changes whenever a node stored something new or a node went or came back."""
        with self._lock:
            return self._generation

    # -- sources ---------------------------------------------------------------------------

    def source_of(self, node: int, obj: dict[str, Any]) -> Source:
        """The source of a line (or of a /sources entry) of a node, under our id."""
        key = (
            node,
            str(obj.get("namespace", "")),
            str(obj.get("pod", "")),
            str(obj.get("container", "")),
            int(obj.get("restart", 0) or 0),
            str(obj.get("pod_uid", "")),
        )
        with self._lock:
            sid = self._ids.get(key)
            if sid is not None and "lines" not in obj:
                return self._sources[sid]
            if sid is None:
                sid = self._ids[key] = len(self._ids) + 1
            old = self._sources.get(sid)
            first = _ts(obj["first_ts"]) if "first_ts" in obj else (old.first_ts if old else 0)
            last = _ts(obj["last_ts"]) if "last_ts" in obj else (old.last_ts if old else 0)
            src = Source(
                id=sid,
                key=SourceKey(key[1], key[2], key[3], key[4], key[5]),
                container_id="",
                node=str(obj.get("node", "")),
                labels=dict(obj.get("labels") or {}),
                state=str(obj.get("state", old.state if old else "")),
                reason="",
                first_ts=first,
                last_ts=last,
                lines=int(obj.get("lines", old.lines if old else 0) or 0),
                workload_kind=str(obj.get("kind", old.workload_kind if old else "") or ""),
                workload=str(obj.get("workload", old.workload if old else "") or ""),
            )
            self._sources[sid] = src
            return src

    def remember(self, line_id: int, sid: int) -> None:
        """A line read: its source is asked for by id later (the context screen)."""
        with self._lock:
            self._line_sources[line_id] = sid
            if len(self._line_sources) > _KEEP_LINES:
                self._line_sources.popitem(last=False)

    def source_of_line(self, line_id: int) -> Source | None:
        with self._lock:
            sid = self._line_sources.get(line_id)
            return None if sid is None else self._sources.get(sid)

    def source(self, sid: int) -> Source | None:
        with self._lock:
            return self._sources.get(sid)

    def sources(self, refresh: bool) -> list[Source]:
        """Every node's sources (asked again when `refresh` and not asked lately)."""
        if refresh and time.monotonic() - self._sources_at >= _SOURCES_EVERY_S:
            self._sources_at = time.monotonic()

            def ask(node: int, c: Collector) -> None:
                for entry in self.fan.get_json(c, "/api/v1/sources", [])["sources"]:
                    self.source_of(node, entry)

            self.each(ask)
        with self._lock:
            return sorted(self._sources.values(), key=lambda s: s.id)

    # -- tails: a new line anywhere moves the generation -----------------------------------

    def start_tails(self) -> None:
        for node, c in enumerate(self.collectors):
            threading.Thread(
                target=self._tail, args=(node, c), name=f"klogtui-tail-{c.pod}", daemon=True
            ).start()

    def _tail(self, node: int, c: Collector) -> None:
        while not self._stopping.is_set():
            try:
                for _ in self.fan.stream(c, "/api/v1/tail", [("q", "")]):
                    with self._lock:
                        self._generation += 1
                        self._down.pop(c.name, None)
                    if self._stopping.is_set():
                        return
            except NodeDown as e:
                with self._lock:
                    if self._down.get(e.name) is None:
                        self._generation += 1
                    self._down[e.name] = e.reason
            except Exception:  # noqa: BLE001 - a refused tail: the reads say why
                pass
            self._stopping.wait(_TAIL_RETRY_S)

    def close(self) -> None:
        self._stopping.set()
        self.fan.close()
