"""The explorer's reader over a cluster's collectors: the store Reader's reads
(klogtui.store.reads), each fanned out to every node through the pod proxy and merged.

Windows merge by our line ids (klogtui.remote.cluster): a page before or after an id
asks each node for its lines before or after that id's cursor, so paging up and down
stays exact across nodes. Facets, event-field names and values and histograms sum the
nodes' counts (a node's top values only: a value just below each node's top may be
left out); a line's raw store id is ours.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from klogtui.formats.timestamps import parse_timestamp
from klogtui.model import Flag, Level, LogLine, Source, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.remote.cluster import RemoteCluster, join_id, split_id
from klogtui.remote.collectors import Collector, Found
from klogtui.remote.fanout import FanOut
from klogtui.remote.query_text import node_query_text
from klogtui.remote.timeline import LEVELS, PAGE, NodeLine, read_after, read_newest
from klogtui.store import ids
from klogtui.store.aggregates import Bucket, StoreStats
from klogtui.store.compile import CompiledQuery, compile_query
from klogtui.store.read_conn import QueryLike

__all__ = ["RemoteCompiled", "RemoteReader", "RemoteSource", "open_cluster"]

_STREAMS = {s.label: int(s) for s in Stream}
_FLAGS = {str(f.name).lower(): int(f) for f in Flag if f}


class RemoteCompiled(CompiledQuery):
    """A compiled query that remembers its text: the nodes are sent the text (its time
    bounds resolved here: klogtui.remote.query_text)."""

    text: str


class RemoteReader:
    """One pane's reads over the cluster (the panes share the cluster's state)."""

    def __init__(self, cluster: RemoteCluster) -> None:
        self.cluster = cluster
        self.path = Path(f"collectors in namespace {cluster.namespace}")

    # -- queries -----------------------------------------------------------------------

    def compile(self, query: QueryLike) -> CompiledQuery:
        if isinstance(query, RemoteCompiled):
            return query
        if isinstance(query, CompiledQuery):
            raise TypeError("a query compiled for a store file cannot be sent to collectors")
        parsed = ParsedQuery.of(query) if isinstance(query, str) else query
        now = time.time_ns()
        cq = compile_query(parsed.ast, self.cluster.sources(False), now, parsed.typed, parsed.zone)
        out = RemoteCompiled(*cq)
        out.text = node_query_text(parsed, now)
        return out

    def _text(self, query: QueryLike) -> str:
        cq = self.compile(query)
        assert isinstance(cq, RemoteCompiled)
        return cq.text

    @staticmethod
    def id_for_ts(ts_ns: int) -> int:
        return join_id(ids.id_for_ts(ts_ns), 0)

    # -- lines -------------------------------------------------------------------------

    def _line(self, ln: NodeLine) -> LogLine:
        o = ln.obj
        src = self.cluster.source_of(ln.node, o)
        flags = 0
        for name in o.get("flags") or ():
            flags |= _FLAGS.get(str(name), 0)
        line = LogLine(
            join_id(ln.cursor, ln.node),
            _ts_ns(o["ts"]),
            src.id,
            _STREAMS.get(str(o.get("stream")), 0),
            int(LEVELS.get(str(o.get("level")), Level.UNKNOWN)),
            flags,
            str(o.get("message", "")),
            json.dumps(o["fields"], ensure_ascii=False) if "fields" in o else None,
        )
        self.cluster.remember(line.id, src.id)
        return line

    def _merge(self, per_node: list[list[NodeLine]]) -> list[LogLine]:
        lines = [self._line(ln) for got in per_node for ln in got]
        lines.sort(key=lambda ln: ln.id)
        return lines

    def newest(self, query: QueryLike, limit: int) -> list[LogLine]:
        return self.window_before(query, None, limit)

    def oldest(self, query: QueryLike, limit: int) -> list[LogLine]:
        return self.window_after(query, None, limit)

    def window_before(self, query: QueryLike, cursor: int | None, limit: int) -> list[LogLine]:
        """Up to `limit` lines with an id below cursor (the newest if None), oldest first."""
        text = self._text(query)

        def read(node: int, c: Collector) -> list[NodeLine]:
            if cursor is None:
                return read_newest(self.cluster.fan, node, c, text, limit)
            at, of = split_id(cursor)
            # Ids order by (cursor, node): a node listed before `of` keeps `at` itself.
            before = at + 1 if node < of else at
            return read_newest(self.cluster.fan, node, c, text, limit, before)

        return self._merge(self.cluster.each(read))[-limit:] if limit > 0 else []

    def window_after(self, query: QueryLike, cursor: int | None, limit: int) -> list[LogLine]:
        """Up to `limit` lines with an id above cursor (from the oldest if None)."""
        text = self._text(query)
        if limit <= 0:
            return []

        def read(node: int, c: Collector) -> list[NodeLine]:
            if cursor is None:
                after = 0
            else:
                at, of = split_id(cursor)
                after = at if node <= of else max(0, at - 1)
            return read_after(self.cluster.fan, node, c, text, after, limit)

        return self._merge(self.cluster.each(read))[:limit]

    def count_after(self, query: QueryLike, cursor: int, cap: int = 10_000) -> int:
        return min(cap, len(self.window_after(query, cursor, min(cap, PAGE))))

    def context(self, line_id: int, before: int, after: int) -> list[LogLine]:
        """The lines around one line from its container instance, on its node."""
        src = self.cluster.source_of_line(line_id)
        if src is None:
            return []
        at, node = split_id(line_id)
        text = (
            f"ns={_quoted(src.namespace)} pod={_quoted(src.pod)} "
            f"container={_quoted(src.container)} restart={src.key.restart}"
        )

        def read(c: Collector) -> list[NodeLine]:
            fan = self.cluster.fan
            older = read_newest(fan, node, c, text, before, at)
            return older + read_after(fan, node, c, text, max(0, at - 1), after + 1)

        return self._merge([self.cluster.one(node, read, [])])

    # -- sources, counts -------------------------------------------------------------------

    def source(self, source_id: int) -> Source | None:
        return self.cluster.source(source_id)

    def sources(self, refresh: bool = True) -> list[Source]:
        return self.cluster.sources(refresh)

    def data_version(self) -> int:
        return self.cluster.generation

    def stats(self) -> StoreStats:
        srcs = self.cluster.sources(False)
        firsts = [s.first_ts for s in srcs if s.first_ts]
        return StoreStats(
            sum(s.lines for s in srcs),
            len(srcs),
            0,
            min(firsts, default=0),
            max((s.last_ts for s in srcs), default=0),
        )

    def histogram_of_all(self, query: QueryLike, buckets: int) -> tuple[list[Bucket], bool]:
        """The nodes' histograms over the cluster's stored time, summed bucket by bucket."""
        text = self._text(query)
        st = self.stats()
        if not st.lines:
            return [], True
        lo, hi = st.first_ts, st.last_ts + 1
        params = [("q", text), ("from", str(lo)), ("to", str(hi)), ("buckets", str(buckets))]

        def read(node: int, c: Collector) -> Any:
            return self.cluster.fan.get_json(c, "/api/v1/histogram", params)

        got = self.cluster.each(read)
        step = (hi - lo) / buckets
        sums = [[0, 0, 0] for _ in range(buckets)]
        exact = True
        for answer in got:
            exact = exact and bool(answer.get("exact", False))
            for i, b in enumerate(answer.get("buckets", [])[:buckets]):
                sums[i][0] += int(b["total"])
                sums[i][1] += int(b["warn"])
                sums[i][2] += int(b["error"])
        out = [
            Bucket(int(lo + i * step), int(lo + (i + 1) * step), t, w, e)
            for i, (t, w, e) in enumerate(sums)
        ]
        return out, exact and not self.missing_parts()

    def facets(
        self, query: QueryLike, field: str, limit: int = 200
    ) -> tuple[list[tuple[str, int]], bool]:
        """Counts of a field's values, summed over the nodes (FACET_FIELDS, `labels`,
        `label:KEY` and event fields, as the store's facets)."""
        if field.startswith("."):
            return self.field_values(query, field, limit)
        params = [("q", self._text(query)), ("field", field), ("limit", str(limit))]
        return self._summed("/api/v1/facets", params, limit, lambda a: a["facets"][field])

    def field_names(self, query: QueryLike, sample: int = 0) -> list[tuple[str, int]]:
        """The nodes' event fields, each with the summed count of events holding it."""
        params = [("q", self._text(query))] + ([("sample", str(sample))] if sample else [])
        names, _ = self._summed("/api/v1/fields", params, None, lambda a: a["fields"])
        return names

    def field_values(
        self, query: QueryLike, field: str, limit: int = 200, sample: int = 0
    ) -> tuple[list[tuple[str, int]], bool]:
        """An event field's top values, their counts summed over the nodes."""
        params = [("q", self._text(query)), ("field", field), ("limit", str(limit))]
        params += [("sample", str(sample))] if sample else []
        return self._summed("/api/v1/field-values", params, limit, lambda a: a["values"])

    def _summed(
        self,
        path: str,
        params: list[tuple[str, str]],
        limit: int | None,
        counts: Callable[[Any], list[list[Any]]],
    ) -> tuple[list[tuple[str, int]], bool]:
        """Every node's (value, count) pairs summed by value, most first, the top
        `limit`; exact when each node said so (an answer without `exact` is not
        partial) and every node answered."""

        def read(node: int, c: Collector) -> Any:
            return self.cluster.fan.get_json(c, path, params)

        totals: dict[str, int] = {}
        exact = True
        for answer in self.cluster.each(read):
            exact = exact and bool(answer.get("exact", True))
            for value, n in counts(answer):
                totals[str(value)] = totals.get(str(value), 0) + int(n)
        ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        return ordered[:limit], exact and not self.missing_parts()

    def missing_parts(self) -> list[str]:
        return self.cluster.missing()

    def interrupt(self) -> None:
        """Nothing to interrupt: each request has its own time limit."""

    def close(self) -> None:
        """The cluster's connections outlive a pane's reader (RemoteSource.close)."""


class RemoteSource:
    """Readers over a cluster's collectors, as `Store` gives readers over a file."""

    def __init__(self, cluster: RemoteCluster) -> None:
        self.cluster = cluster
        self.path = Path(f"collectors in namespace {cluster.namespace}")
        self.nodes = cluster.node_count()  # the status line says how many answer

    def reader(self) -> RemoteReader:
        return RemoteReader(self.cluster)

    def close(self) -> None:
        self.cluster.close()


def open_cluster(fan: FanOut, found: Found, namespace: str) -> RemoteSource:
    """Readers over the collectors found, their tails started."""
    cluster = RemoteCluster(fan, found, namespace)
    cluster.start_tails()
    return RemoteSource(cluster)


def _quoted(value: str) -> str:
    return json.dumps(value)


def _ts_ns(text: object) -> int:
    return parse_timestamp(str(text))
