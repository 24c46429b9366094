"""The API's read endpoints, without HTTP: a request's parameters and the caller's
namespaces in, a status and a body out.

Every answer is built whole before a byte is sent (at most `Limits.max_limit` lines),
so a reader connection is held only while SQLite reads, never while a slow client
takes its time. `/tail` is the exception and lives in klogtui.serve.tail.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from klogtui.errors import QueryError
from klogtui.export import Printer
from klogtui.model import Source
from klogtui.query.ast import And, Field, Node
from klogtui.query.parsed import ParsedQuery
from klogtui.query.times import time_ns
from klogtui.store.aggregates import FACET_FIELDS, Bucket
from klogtui.store.compile import CompiledQuery
from klogtui.store.reader import Reader
from klogtui.text import format_ts

__all__ = ["Answer", "BadRequest", "Forbidden", "Scope", "Routes", "scoped_query"]

NDJSON = "application/x-ndjson"
JSON = "application/json"
# Event fields are read from the newest events holding them: a caller may ask for a
# sample of at most this many (the store's own default for a field's values).
MAX_FIELD_SAMPLE = 50_000

# The namespaces a caller may read (None: every one, the API runs without auth).
Scope = frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class BadRequest(Exception):
    """A parameter that cannot be used: 400 with the message (and the query's column)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


class Forbidden(Exception):
    """The query names a namespace the caller may not read: 403 with the message."""


def _named_namespaces(node: Node) -> list[str]:
    """Namespaces the query requires by name (`ns=shop` at its top level)."""
    items = node.items if isinstance(node, And) else (node,)
    return [
        n.value
        for n in items
        if isinstance(n, Field)
        and n.key == "namespace"
        and n.op == "="
        and not any(c in n.value for c in "*?")
    ]


def scoped_query(reader: Reader, text: str, scope: Scope) -> CompiledQuery:
    """The query compiled for the caller: only sources in the namespaces of `scope`.

    Raises:
        QueryError: the query does not parse (or its regex ran too long).
        Forbidden: the query names a namespace outside the scope.
    """
    parsed = ParsedQuery.of(text)
    cq = reader.compile(parsed)
    if scope is None:
        return cq
    for ns in _named_namespaces(parsed.ast) if parsed.ast is not None else ():
        if ns not in scope:
            raise Forbidden(
                f"you may not read logs in namespace {ns!r}: that needs `get pods/log` "
                "there (what `kubectl logs` needs)"
            )
    allowed = frozenset(s.id for s in reader.sources() if s.namespace in scope)
    ids = allowed if cq.source_ids is None else cq.source_ids & allowed
    return cq._replace(source_ids=ids)


def _int(params: Mapping[str, str], name: str, default: int | None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        n = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {text[:40]!r}") from None
    if n < 0:
        raise BadRequest(f"{name} must not be negative")
    return n


def _json(obj: Any) -> Answer:
    return Answer(200, JSON, json.dumps(obj, ensure_ascii=False).encode())


def source_json(s: Source) -> dict[str, Any]:
    return {
        "namespace": s.namespace,
        "pod": s.pod,
        "container": s.container,
        "restart": s.key.restart,
        "pod_uid": s.key.pod_uid,
        "node": s.node,
        "labels": s.labels,
        "workload": s.workload,
        "kind": s.workload_kind,
        "state": s.state,
        "first_ts": format_ts(s.first_ts) if s.first_ts else None,
        "last_ts": format_ts(s.last_ts) if s.last_ts else None,
        "lines": s.lines,
    }


class Routes:
    """The read endpoints over one reader (taken from the pool for one request).

    Args:
        max_limit: the most lines one /lines answer holds; a bigger `limit` is cut to it.
    """

    def __init__(self, max_limit: int) -> None:
        self.max_limit = max_limit

    def lines(self, reader: Reader, params: Mapping[str, str], scope: Scope) -> Answer:
        """`/lines?q=&limit=&before=|after=`: matching events, oldest first, each with
        its cursor. Without before/after: the newest `limit`."""
        limit = _int(params, "limit", 200)
        assert limit is not None
        before = _int(params, "before", None)
        after = _int(params, "after", None)
        if before is not None and after is not None:
            raise BadRequest("give before or after, not both")
        headers: tuple[tuple[str, str], ...] = ()
        if limit > self.max_limit:
            headers = (("X-Klogtui-Limit", str(self.max_limit)),)
            limit = self.max_limit
        cq = scoped_query(reader, params.get("q", ""), scope)
        if after is not None:
            got = reader.window_after(cq, after, limit)
        else:
            got = reader.window_before(cq, before, limit)
        out = io.StringIO()
        printer = Printer(reader, out, "jsonl", color=False)
        for line in got:
            out.write(printer.jsonl(line, cursor=True))
            out.write("\n")
        return Answer(200, NDJSON, out.getvalue().encode(), headers)

    def facets(self, reader: Reader, params: Mapping[str, str], scope: Scope) -> Answer:
        """`/facets?q=[&field=F]`: counts of each value of the fields (all by default)."""
        field = params.get("field")
        fields: Collection[str] = FACET_FIELDS if not field else (field,)
        for f in fields:
            if f not in FACET_FIELDS and f != "labels" and not f.startswith("label:"):
                raise BadRequest(
                    f"unknown facet field {f!r}: use one of {', '.join(FACET_FIELDS)}, "
                    "labels (each key=value) or label:KEY"
                )
        cq = scoped_query(reader, params.get("q", ""), scope)
        exact = True
        out: dict[str, list[list[Any]]] = {}
        for f in fields:
            values, ok = reader.facets(cq, f, limit=_int(params, "limit", 200) or 200)
            exact = exact and ok
            out[f] = [[v, n] for v, n in values]
        return _json({"facets": out, "exact": exact})

    def fields(self, reader: Reader, params: Mapping[str, str], scope: Scope) -> Answer:
        """`/fields?q=[&sample=N]`: the event fields of the newest matches holding any,
        each with how many of those hold it, most common first."""
        sample = _sample(params)
        cq = scoped_query(reader, params.get("q", ""), scope)
        got = reader.field_names(cq) if sample is None else reader.field_names(cq, sample)
        return _json({"fields": [[name, n] for name, n in got]})

    def field_values(self, reader: Reader, params: Mapping[str, str], scope: Scope) -> Answer:
        """`/field-values?q=&field=.F[&limit=N&sample=N]`: counts of an event field's
        values among the newest matches holding it (exact: all of them were read)."""
        field = params.get("field", "")
        if not field.startswith("."):
            raise BadRequest(
                f"field must be an event field as queries write it (.status), not {field!r}"
            )
        limit = _int(params, "limit", 200) or 200
        sample = _sample(params)
        cq = scoped_query(reader, params.get("q", ""), scope)
        try:
            if sample is None:
                values, exact = reader.field_values(cq, field, limit)
            else:
                values, exact = reader.field_values(cq, field, limit, sample)
        except ValueError as e:
            raise BadRequest(str(e)) from None
        return _json({"values": [[v, n] for v, n in values], "exact": exact})

    def histogram(self, reader: Reader, params: Mapping[str, str], scope: Scope) -> Answer:
        """`/histogram?q=&from=&to=&buckets=N`: counts per bucket, warnings and errors
        apart. from/to: times or durations back (as since:/until:), or UTC ns."""
        buckets = _int(params, "buckets", 60)
        assert buckets is not None
        if not 1 <= buckets <= 10_000:
            raise BadRequest("buckets must be from 1 to 10000")
        cq = scoped_query(reader, params.get("q", ""), scope)
        now = time.time_ns()
        lo, hi = _time(params, "from", now), _time(params, "to", now)
        got: tuple[list[Bucket], bool]
        if lo is None and hi is None:
            got = reader.histogram_of_all(cq, buckets)
        else:
            first, last = reader.time_range()
            lo = first if lo is None else lo
            hi = last + 1 if hi is None else hi
            if hi <= lo:
                raise BadRequest("to must be after from")
            got = reader.histogram(cq, lo, hi, buckets)
        rows, exact = got
        return _json(
            {
                "buckets": [
                    {
                        "start_ns": b.start_ns,
                        "end_ns": b.end_ns,
                        "start": format_ts(b.start_ns),
                        "total": b.total,
                        "warn": b.warn,
                        "error": b.error,
                    }
                    for b in rows
                ],
                "exact": exact,
            }
        )

    def sources(self, reader: Reader, scope: Scope) -> Answer:
        """`/sources`: every container instance stored, in the caller's namespaces."""
        return _json(
            {
                "sources": [
                    source_json(s)
                    for s in reader.sources()
                    if scope is None or s.namespace in scope
                ]
            }
        )


def _sample(params: Mapping[str, str]) -> int | None:
    """The `sample` asked for (None: the store's default), at most MAX_FIELD_SAMPLE."""
    sample = _int(params, "sample", None)
    return None if sample is None else min(max(sample, 1), MAX_FIELD_SAMPLE)


def _time(params: Mapping[str, str], name: str, now: int) -> int | None:
    text = params.get(name)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        return time_ns(text, now)
    except ValueError as e:
        raise BadRequest(f"{name}: {e}") from None


def query_error(e: QueryError) -> Answer:
    """400 with the message and the column it points at."""
    body = {"error": e.message, "column": e.column}
    return Answer(400, JSON, json.dumps(body, ensure_ascii=False).encode())
