"""Counts over a query's matches: facets, totals, the histogram, and store stats.

Where the query only looks at sources, stream and level, whole minutes are counted
from the per-minute counts table and only the partial minutes at either end from the
lines; a text query is counted over its newest matches, up to a cap, and says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

from klogtui.model import Level, Stream
from klogtui.query.ast import EventField, path_text
from klogtui.query.editing import condition
from klogtui.store.compile import CompiledQuery
from klogtui.store.field_sql import FIELDS_SOURCE, event_field_sql, field_sql, reads_fields
from klogtui.store.ids import BUCKET_NS, SLOT_BITS, id_before_ts, id_for_ts, ts_of_id
from klogtui.store.read_conn import MAX_ID, QueryLike, ReadConnection, guarded

__all__ = ["FACET_FIELDS", "Aggregates", "Bucket", "StoreStats"]

_NS_PER_MINUTE = 60_000_000_000
# Text facets and histograms count at most this many newest matches (then say so).
_SCAN_CAP = 200_000
FACET_FIELDS = ("namespace", "pod", "container", "stream", "level", "node")
# Event fields are read from the newest matches that have them: names from this many,
# a field's values from this many (then the counts say they are not exact). Reading a
# field parses the event's JSON: about 10 µs an event here, so 50,000 take 0.5 s.
_FIELD_NAMES_SAMPLE = 5_000
_FIELD_VALUES_SAMPLE = 50_000
# A query on event fields has no index to count with: counts, facets and histograms
# read the newest this many lines at most (a second or so), then say they are partial.
_FIELD_SCAN_LINES = 500_000


class StoreStats(NamedTuple):
    lines: int
    sources: int
    db_bytes: int
    first_ts: int
    last_ts: int


class Bucket(NamedTuple):
    """One histogram bucket: [start_ns, end_ns) with total and warn/error counts."""

    start_ns: int
    end_ns: int
    total: int
    warn: int
    error: int


class Aggregates(ReadConnection):
    """The counting reads of a Reader (see klogtui.store.reader)."""

    def _counts_where(self, cq: CompiledQuery) -> str | None:
        """The query as a filter over the per-minute counts table, when it can be one.

        The counts table has source_id, level and stream columns named like the lines
        table's, so a query that only looks at those runs over it unchanged.
        """
        line_columns = ("l.id", "l.ts", "l.message", "l.fields")
        if cq.fts is not None or any(c in cq.where for c in line_columns):
            return None
        return f"({cq.where}){self._source_filter(cq)}"

    @guarded
    def facets(
        self, query: QueryLike, field: str, limit: int = 200
    ) -> tuple[list[tuple[str, int]], bool]:
        """Counts of each value of `field` among lines matching the query.

        field is one of FACET_FIELDS, "label:<key>" or an event field as the query
        language writes it (`.status`, `."http.route"`). Returns (values by count
        descending, exact); exact is False when a text query, or an event field, was
        counted over its newest matches only.
        """
        cq = self.compile(query)
        if field.startswith("."):
            return self._field_values(cq, field, limit, _FIELD_VALUES_SAMPLE)
        per_source: dict[tuple[int, int, int], int] = {}
        exact = True
        with self._lock:
            where = self._counts_where(cq)
            if where is not None:
                rows = self._exact_groups(cq, where)
            else:
                rows, exact = self._capped_groups(cq)
                rows = self._group_rows(rows)
        for sid, level, stream, n in rows:
            per_source[(sid, level, stream)] = per_source.get((sid, level, stream), 0) + n
        totals: dict[str, int] = {}
        for (sid, level, stream), n in per_source.items():
            for value in self._facet_values(field, sid, level, stream):
                totals[value] = totals.get(value, 0) + n
        ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        return ordered[:limit], exact

    @guarded
    def field_values(
        self, query: QueryLike, field: str, limit: int = 200, sample: int = _FIELD_VALUES_SAMPLE
    ) -> tuple[list[tuple[str, int]], bool]:
        """`facets` of an event field over the newest `sample` matches that have it."""
        return self._field_values(self.compile(query), field, limit, sample)

    def _field_values(
        self, cq: CompiledQuery, field: str, limit: int, sample: int
    ) -> tuple[list[tuple[str, int]], bool]:
        cond = condition(field, "=", "*")
        if not isinstance(cond, EventField):
            raise ValueError(f"not an event field: {field!r}")
        kind, extracted = field_sql(cond.path)
        # JSON's true/false/null by name; numbers and text as they are.
        value = (
            f"CASE {kind} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"WHEN 'null' THEN 'null' ELSE {extracted} END"
        )
        sql, params = self._newest_with(cq, event_field_sql(EventField(cond.path), []), sample)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {value}, count(*) FROM ({sql}) l GROUP BY 1", params
            ).fetchall()
        # JSON's 200 and logfmt's "200" group apart in SQL: one value as shown.
        totals: dict[str, int] = {}
        for v, n in rows:
            totals[str(v)] = totals.get(str(v), 0) + n
        ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        return ordered[:limit], sum(totals.values()) < sample

    @guarded
    def field_names(
        self, query: QueryLike, sample: int = _FIELD_NAMES_SAMPLE
    ) -> list[tuple[str, int]]:
        """The event fields (as the query language writes them: `.status`, `.user.id`)
        of the newest `sample` matches that have any, with how many of those hold
        each, most common first. Fields inside arrays are left out."""
        cq = self.compile(query)
        sql, params = self._newest_with(cq, f"({FIELDS_SOURCE}) IS NOT NULL", sample)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT t.fullkey, count(DISTINCT l.id) FROM ({sql}) l, json_tree("
                f"{FIELDS_SOURCE}) t WHERE t.type NOT IN ('object', 'array') GROUP BY 1",
                params,
            ).fetchall()
        # Imported here: the event parsers' package is not needed to count (`klogtui
        # query` starts faster without it).
        from klogtui.formats.fields import LEVEL_KEYS, MESSAGE_KEYS

        # A JSON object's message and level keys stay in the message form of its fields
        # (one JSON line) but not in the copy other events store: not offered as fields.
        not_fields = {*MESSAGE_KEYS, *LEVEL_KEYS}
        names: dict[str, int] = {}
        for fullkey, n in rows:
            path = _json_tree_path(fullkey)
            if path and path[0] not in not_fields:
                name = path_text(path)
                names[name] = names.get(name, 0) + n
        return sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))

    def _newest_with(self, cq: CompiledQuery, also: str, limit: int) -> tuple[str, list[object]]:
        """A select of the newest `limit` matches of cq for which the SQL `also` holds
        (their id, message and fields), with its parameters."""
        cq = cq._replace(where=f"({cq.where}) AND {also}")
        lo, hi = self._bounds(cq, -1, MAX_ID)
        if cq.source_ids == frozenset():
            cq = cq._replace(where="0")
        sql = self._select_sql(cq, "l.id, l.message, l.fields", desc=True)
        return sql, list(self._select_params(cq, lo, hi, limit))

    def _capped_groups(self, cq: CompiledQuery) -> tuple[list[tuple[int, int, int, int]], bool]:
        lo = self._bounds(cq, -1, MAX_ID)[0]
        floor = self._field_floor(cq, lo, MAX_ID)
        rows = self._select(cq, floor, MAX_ID, True, _SCAN_CAP)
        exact = len(rows) < _SCAN_CAP and floor == lo
        return [(r.source_id, r.level, r.stream, r.id) for r in rows], exact

    def _field_floor(self, cq: CompiledQuery, lo: int, hi: int) -> int:
        """lo, raised for a query on event fields so that at most _FIELD_SCAN_LINES
        lines with lo < id < hi are read (the newest)."""
        if not reads_fields(cq.where):
            return lo
        row = self._conn.execute(
            "SELECT id FROM lines WHERE id > ? AND id < ? ORDER BY id DESC LIMIT 1 OFFSET ?",
            (lo, hi, _FIELD_SCAN_LINES),
        ).fetchone()
        return lo if row is None else max(lo, int(row[0]))

    @staticmethod
    def _group_rows(rows: Sequence[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        groups: dict[tuple[int, int, int], int] = {}
        for sid, level, stream, _ in rows:
            groups[(sid, level, stream)] = groups.get((sid, level, stream), 0) + 1
        return [(*k, n) for k, n in groups.items()]

    def _facet_values(self, field: str, sid: int, level: int, stream: int) -> list[str]:
        if field == "level":
            return [Level(level).label or "none"]
        if field == "stream":
            return [Stream(stream).label]
        src = self._by_id.get(sid)
        if src is None:
            return []
        if field == "namespace":
            return [src.namespace]
        if field == "pod":
            return [src.pod]
        if field == "container":
            return [src.container]
        if field == "node":
            return [src.node] if src.node else []
        if field.startswith("label:"):
            value = src.labels.get(field[6:])
            return [] if value is None else [value]
        if field == "labels":
            return [f"{k}={v}" for k, v in src.labels.items()]
        raise ValueError(f"unknown facet field {field!r}")

    def _exact_groups(self, cq: CompiledQuery, where: str) -> list[tuple[int, int, int, int]]:
        """(source_id, level, stream, lines) among lines matching a query that the
        counts table can filter (`where`, from _counts_where), within its since/until.

        Whole minutes come from the counts table, the partial minutes at either end
        from the lines themselves, so a time-bounded count is exact and costs two
        minutes of lines at most, however long the range.
        """
        first_min, end_min, edges = _split_minutes(cq.min_id, cq.max_id)
        minutes = ""
        if first_min is not None:
            minutes += f" AND l.minute >= {int(first_min)}"
        if end_min is not None:
            minutes += f" AND l.minute < {int(end_min)}"
        rows: list[tuple[int, int, int, int]] = self._conn.execute(
            f"SELECT l.source_id, l.level, l.stream, sum(l.n) FROM counts l "
            f"WHERE {where}{minutes} GROUP BY 1, 2, 3",
            cq.params,
        ).fetchall()
        for lo, hi in edges:
            rows += self._conn.execute(
                f"SELECT l.source_id, l.level, l.stream, count(*) FROM lines l "
                f"WHERE l.id >= ? AND l.id < ? AND {where} GROUP BY 1, 2, 3",
                (lo, hi, *cq.params),
            ).fetchall()
        return rows

    @guarded
    def count(self, query: QueryLike) -> tuple[int, bool]:
        """How many lines match: (count, exact). Text queries stop counting at a cap."""
        cq = self.compile(query)
        with self._lock:
            where = self._counts_where(cq)
            if where is not None:
                return sum(n for *_, n in self._exact_groups(cq, where)), True
            lo = self._bounds(cq, -1, MAX_ID)[0]
            floor = self._field_floor(cq, lo, MAX_ID)
            n = len(self._select(cq, floor, MAX_ID, True, _SCAN_CAP, ids_only=True))
            return n, n < _SCAN_CAP and floor == lo

    @guarded
    def histogram(
        self, query: QueryLike, start_ns: int, end_ns: int, buckets: int
    ) -> tuple[list[Bucket], bool]:
        """Volume over [start_ns, end_ns) in `buckets` equal buckets, warn/error apart.

        Uses the per-minute counts when the query allows it and buckets are at least a
        minute wide; otherwise counts the matching lines themselves, the newest first
        and, for a text query, up to a cap. Returns (buckets, exact); exact is False
        when the cap cut the count short: the buckets before the oldest line counted
        are not counted.
        """
        cq = self.compile(query)
        buckets = max(1, buckets)
        width = max(1, -(-(end_ns - start_ns) // buckets))
        total = [0] * buckets
        warn = [0] * buckets
        error = [0] * buckets

        def add(ts: int, level: int, n: int) -> None:
            i = (ts - start_ns) // width
            if 0 <= i < buckets:
                total[i] += n
                if level == Level.WARN:
                    warn[i] += n
                elif level >= Level.ERROR:
                    error[i] += n

        lo = max(id_for_ts(start_ns), 0 if cq.min_id is None else cq.min_id)
        hi = min(id_before_ts(end_ns), MAX_ID if cq.max_id is None else cq.max_id)

        def count_lines(lo: int, hi: int, cap: int) -> int:
            """Add the matching lines with lo <= id < hi, the newest `cap` (-1: all)."""
            if cq.fts is not None:
                return count_index_hits(lo, hi, cap)
            # Ids carry the time, so a bucket is a range of ids: one aggregate per
            # bucket, newest first, and only three counts come back to Python. (One
            # GROUP BY over the whole range sorted every line it counted in memory:
            # 330 MB and 7 s for the histogram of a 5M-line store.)
            sql = (
                f"SELECT count(*), coalesce(sum(level = {Level.WARN:d}), 0), "
                f"coalesce(sum(level >= {Level.ERROR:d}), 0) "
                f"FROM ({self._select_sql(cq, 'l.level', desc=True)})"
            )
            first = max(0, (ts_of_id(lo) - start_ns) // width)
            last = min(buckets - 1, (ts_of_id(max(lo, hi - 1)) - start_ns) // width)
            counted = 0
            for i in range(last, first - 1, -1):
                # A line is in the bucket its id's time (rounded down to 10 µs) falls
                # in; the first bucket also takes the lines of start_ns's own 10 µs.
                b_lo = max(lo, id_before_ts(start_ns + i * width)) if i else lo
                b_hi = min(hi, id_before_ts(start_ns + (i + 1) * width))
                if b_lo >= b_hi:
                    continue
                limit = cap - counted if cap >= 0 else -1
                n, n_warn, n_error = self._conn.execute(
                    sql, self._select_params(cq, b_lo - 1, b_hi, limit)
                ).fetchone()
                total[i] += n
                warn[i] += n_warn
                error[i] += n_error
                counted += n
                if 0 <= cap <= counted:
                    break
            return counted

        def count_index_hits(lo: int, hi: int, cap: int) -> int:
            """count_lines for a text-index query: one pass over its hits (asking the
            index again for each bucket is slower), grouped in SQL; its sort holds at
            most `cap` lines, as a text query is always capped."""
            inner = self._select_sql(cq, "l.id, l.level", desc=True)
            counted = 0
            for bucket_ts, level, n in self._conn.execute(
                f"SELECT ((id >> {SLOT_BITS}) * {BUCKET_NS} - ?) / ? * ? + ?, level, "
                f"count(*) FROM ({inner}) GROUP BY 1, 2",
                (start_ns, width, width, start_ns, *self._select_params(cq, lo - 1, hi, cap)),
            ):
                add(bucket_ts, level, n)
                counted += n
            return counted

        where = self._counts_where(cq)
        exact = True
        with self._lock:
            if where is not None and width >= _NS_PER_MINUTE:
                first_min, end_min, edges = _split_minutes(lo, hi)
                for minute, level, n in self._conn.execute(
                    f"SELECT l.minute, l.level, sum(l.n) FROM counts l WHERE l.minute >= ? "
                    f"AND l.minute < ? AND {where} GROUP BY 1, 2",
                    (first_min, end_min, *cq.params),
                ):
                    add(minute * _NS_PER_MINUTE, level, n)
                for edge_lo, edge_hi in edges:
                    count_lines(edge_lo, edge_hi, -1)
            else:
                # Only text queries are capped: any other one counts every line in
                # range (LIMIT -1: no limit), about 0.2 s per 500,000 lines.
                cap = _SCAN_CAP if cq.is_text else -1
                floor = self._field_floor(cq, lo - 1, hi) + 1
                counted = count_lines(floor, hi, cap)
                exact = (cap < 0 or counted < cap) and floor == lo
        return [
            Bucket(start_ns + i * width, start_ns + (i + 1) * width, total[i], warn[i], error[i])
            for i in range(buckets)
        ], exact

    def histogram_of_all(self, query: QueryLike, buckets: int) -> tuple[list[Bucket], bool]:
        """`histogram` over all the stored time the query's since/until leave
        (no buckets when nothing is stored there)."""
        cq = self.compile(query)
        stats = self.stats()
        lo, hi = stats.first_ts, stats.last_ts + 1
        if cq.min_id is not None:
            lo = max(lo, ts_of_id(cq.min_id))
        if cq.max_id is not None:
            hi = min(hi, ts_of_id(cq.max_id))
        if not stats.lines or hi <= lo:
            return [], True
        return self.histogram(cq, lo, hi, buckets)

    @guarded
    def stats(self) -> StoreStats:
        with self._lock:
            lines, n_sources, first, last = self._conn.execute(
                "SELECT coalesce(sum(lines), 0), count(*), coalesce(min(nullif(first_ts, 0)), 0), "
                "coalesce(max(last_ts), 0) FROM sources"
            ).fetchone()
        size = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                size += os.path.getsize(str(self.path) + suffix)
            except OSError:
                pass
        return StoreStats(int(lines), int(n_sources), size, int(first), int(last))

    @guarded
    def time_range(self) -> tuple[int, int]:
        """(oldest, newest) stored timestamps, (0, 0) for an empty store."""
        with self._lock:
            lo = self._conn.execute("SELECT ts FROM lines ORDER BY id ASC LIMIT 1").fetchone()
            hi = self._conn.execute("SELECT ts FROM lines ORDER BY id DESC LIMIT 1").fetchone()
        return (lo[0] if lo else 0, hi[0] if hi else 0)


def _split_minutes(
    lo: int | None, hi: int | None
) -> tuple[int | None, int | None, list[tuple[int, int]]]:
    """Split the ids lo <= id < hi (None: unbounded) into whole minutes, as
    (first minute or None, end minute (exclusive) or None), and the id ranges [a, b)
    of the partial minutes at either end. Minutes start on a 10 µs bucket, so the
    split is exact."""
    first_min = end_min = None
    edges: list[tuple[int, int]] = []
    if lo is not None:
        first_min = -(-ts_of_id(lo) // _NS_PER_MINUTE)
        edges.append((lo, id_for_ts(first_min * _NS_PER_MINUTE)))
    if hi is not None:
        end_min = ts_of_id(hi) // _NS_PER_MINUTE
        edges.append((id_for_ts(end_min * _NS_PER_MINUTE), hi))
    if first_min is not None and end_min is not None and first_min >= end_min:
        # No whole minute: the range lies within one or two partial minutes.
        return (
            first_min,
            first_min,
            [(lo, hi)] if lo is not None and hi is not None and lo < hi else [],
        )
    return first_min, end_min, [(a, b) for a, b in edges if a < b]


def _json_tree_path(fullkey: str) -> tuple[str, ...] | None:
    """The names of a json_tree fullkey (`$.user.id`, `$."http.route"`); None when it
    runs through an array (`$.items[0].id`) or cannot be read."""
    if "[" in fullkey or not fullkey.startswith("$"):
        return None
    names: list[str] = []
    i, n = 1, len(fullkey)
    while i < n:
        if fullkey[i] != ".":
            return None
        if fullkey.startswith('"', i + 1):
            end = fullkey.find('"', i + 2)
            if end < 0:
                return None
            names.append(fullkey[i + 2 : end])
            i = end + 1
        else:
            end = fullkey.find(".", i + 1)
            end = n if end < 0 else end
            names.append(fullkey[i + 1 : end])
            i = end
    return tuple(names) or None
