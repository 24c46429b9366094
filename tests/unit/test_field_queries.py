"""`.field` conditions and `restart` in the query language: what they parse to, the
errors they point at, and what they find in a real store of JSON, logfmt and plain
events (fields stored the way ingest stores them)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klogtui.errors import QueryError
from klogtui.formats.fields import stored_fields
from klogtui.formats.levels import level_of
from klogtui.model import Batch, Record, Stream
from klogtui.query.ast import And, EventField, Field, Node, Not, Or, Query, Text
from klogtui.query.editing import with_field, without_field
from klogtui.query.keys import Op
from klogtui.query.parser import parse
from klogtui.store import Store
from klogtui.store.compile import compile_source_predicate
from tests.store_helpers import SEC, T0, key, write


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        (".status>=500", EventField(("status",), ">=", "500")),
        (".user.id=42", EventField(("user", "id"), "=", "42")),
        ('."http.route"=/api', EventField(("http.route",), "=", "/api")),
        ('.http."x y".z!~^a', EventField(("http", "x y", "z"), "!~", "^a")),
        (".caller=~payment.*", EventField(("caller",), "=~", "payment.*")),
        (".latency_ms>250", EventField(("latency_ms",), ">", "250")),
        (".error", EventField(("error",))),
        ("-.trace_id", Not(EventField(("trace_id",)))),
        ("NOT .a OR .b<=1", Or((Not(EventField(("a",))), EventField(("b",), "<=", "1")))),
        ("(.a)", EventField(("a",))),
        (".@timestamp<2026", EventField(("@timestamp",), "<", "2026")),
        (".x-request-id=abc", EventField(("x-request-id",), "=", "abc")),
        (".ключ=значение", EventField(("ключ",), "=", "значение")),
        ('.msg="a b"', EventField(("msg",), "=", "a b")),
        (".user.id=42 timeout", And((EventField(("user", "id"), "=", "42"), Text("timeout")))),
        ("restart=2", Field("restart", "=", "2")),
        ("restart>=1", Field("restart", ">=", "1")),
        ("restart<1", Field("restart", "<", "1")),
        ("label.restart=x", Field("label.restart", "=", "x")),
        # Words that only look like fields or comparisons stay text.
        (".5", Text(".5")),
        ("-.5", Text("-.5")),
        ("...", Text("...")),
        ("a<b", Text("a<b")),
        ("a->b", Text("a->b")),
        ("Map<K>", Text("Map<K>")),
    ],
)
def test_parse(text: str, tree: Query) -> None:
    assert parse(text) == tree
    assert parse(str(tree)) == tree


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ('."status"=500', ".status=500"),
        ('."a.b"="x"', '."a.b"=x'),
        ('."0"=1', '."0"=1'),
        ('.a="x y"', '.a="x y"'),
        ('.a="=b"', '.a="=b"'),
        ("NOT .a", "-.a"),
        ("-(.a .b)", "-(.a .b)"),
    ],
)
def test_canonical_text(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        (".a.", 2, '"." needs a field name'),
        ("x .a:b", 4, "expected an operator"),
        (".a*", 2, "expected an operator"),
        (".a==1", 2, "unknown operator '=='"),
        (".a=>1", 2, "unknown operator '=>'"),
        (".a=", 2, "needs a value"),
        ('."', 1, "unterminated quote"),
        ('.""=1', 1, "cannot be empty"),
        (".a=~(", 4, "bad regex"),
        ("pod>=web", 3, ">= compares numbers"),
        ("level<3", 5, "< compares numbers"),
        ("app<=2", 3, "<= compares numbers"),
        ("restart=x", 8, "restart takes a number"),
        ("restart>=-1", 9, "restart takes a number"),
        ("restart=~1", 7, "restart is a number"),
    ],
)
def test_error_column(text: str, column: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(text)
    assert info.value.column == column
    assert message in info.value.message


_NAMES = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters='"\x00'), min_size=1, max_size=8
)
_VALUES = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10)


def _event_fields() -> st.SearchStrategy[Node]:
    path = st.lists(_NAMES, min_size=1, max_size=3).map(tuple)
    exists = path.map(EventField)
    ops = st.sampled_from(list[Op](["=", "!=", "<", "<=", ">", ">="]))
    values = _VALUES | st.sampled_from(["500", "=", "~x", ")", "a b", '"', "\\"])
    compared = st.builds(EventField, path, ops, values)
    regexes = st.sampled_from(["^a", "x|y", r"\d+", "(a)", "[)]", '"', "a b"])
    searched = st.builds(EventField, path, st.sampled_from(list[Op](["=~", "!~"])), regexes)
    return exists | compared | searched


def _and(items: list[Node]) -> Node:
    """items ANDed as the parser builds it (nested Ands merged)."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, And) else (item,))
    return And(tuple(flat))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        _event_fields(),
        lambda kids: st.builds(Not, kids) | st.lists(kids, min_size=2, max_size=3).map(_and),
        max_leaves=6,
    )
)
def test_round_trip_of_generated_field_trees(tree: Node) -> None:
    assert parse(str(tree)) == tree


def test_with_and_without_a_field() -> None:
    assert with_field("timeout .status>=500", ".status", "503") == "timeout .status=503"
    assert with_field("pod=web", '."http.route"', "/api") == 'pod=web ."http.route"=/api'
    assert with_field("x", ".user.id", "42") == ".user.id=42 x"
    assert without_field(".a=1 .a>2 -.b .c", ".a") == "-.b .c"


def test_restart_selects_sources() -> None:
    from klogtui.model import Source

    def src(restart: int) -> Source:
        return Source(restart + 1, key(restart=restart), "", "", {}, "", "", 0, 0, 0)

    sources = [src(r) for r in range(4)]
    for text, expected in [
        ("restart=2", [2]),
        ("restart!=0", [1, 2, 3]),
        ("restart>=1", [1, 2, 3]),
        ("restart<2", [0, 1]),
        ("restart>3", []),
    ]:
        test = compile_source_predicate(parse(text))
        assert test is not None
        assert [s.key.restart for s in sources if test(s)] == expected, text


# -- against a real store ----------------------------------------------------------------

# Each event as a collector hands it over (its fields as formats.fields stores them).
EVENTS = [
    '{"level":"info","msg":"ok","status":200,"user":{"id":42,"name":"ann"}}',  # 0
    '{"level":"error","msg":"boom","status":503,"caller":"payment/svc.go:12"}',  # 1
    'level=warn msg="slow" status=500 latency_ms=300 http.route=/api/v1',  # 2
    'level=info msg="odd" status=abc latency_ms=12.5',  # 3
    '{"msg":"not json", "status": 500',  # 4: invalid JSON: no fields
    "plain text status=500 latency_ms=900",  # 5: free text with pairs: no fields
    '{"level":"error","msg":"trace","status":502}\n\tat a.B.c(B.java:1)',  # 6: multi-line
    '{"ok":true,"gone":null,"ключ":"значение","msg":"u","status":"404"}',  # 7
    '{"msg":"trailing comma", "status": 500,}',  # 8: invalid JSON
    '{"a.b":"flat","a":{"b":"nested"},"msg":"dots","status":1e3}',  # 9
    '\x1b[32m{"level":"info","msg":"green","status":201}\x1b[0m',  # 10: coloured
    'ts=1 level=error msg="zero" status=007 user_id=42',  # 11: logfmt, leading zero
]
# Stored before schema v4 (fields NULL): a JSON line without stored fields.
OLD_ROW = '{"msg":"old","status":599}'


@pytest.fixture(scope="module")
def fields_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("fields") / "fields.db")
    records = []
    for i, message in enumerate(EVENTS):
        level, fields = stored_fields(message, level_of(message.encode(), message))
        records.append(Record(T0 + i * SEC, key(), Stream.STDOUT, message, level, 0, fields))
    records.append(Record(T0 + 100 * SEC, key(restart=1), Stream.STDOUT, OLD_ROW, 0, 0, None))
    write(store, Batch(records))
    return store


def _found(store: Store, text: str) -> list[int]:
    reader = store.reader()
    try:
        lines = reader.newest(text, 100)
    finally:
        reader.close()
    return sorted(EVENTS.index(ln.message) if ln.message in EVENTS else 12 for ln in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Numbers compare as numbers: JSON's, and logfmt text that reads as one.
        (".status>=500", [1, 2, 6, 9]),
        (".status=500", [2]),
        (".status>500", [1, 6, 9]),
        (".status<300", [0, 10]),
        (".status=1000", [9]),
        (".status=404", [7]),
        (".latency_ms>250", [2]),
        (".latency_ms<=12.5", [3]),
        # Text that is no number (abc, 007) never compares as one, and equals as text.
        (".status=abc", [3]),
        (".status=007", [11]),
        (".status=7", []),
        (".status<abc", [2, 7, 11]),
        # Nested, dotted and unicode names.
        (".user.id=42", [0]),
        (".user.name=ann", [0]),
        (".user=ann", []),
        ('."a.b"=flat', [9]),
        (".a.b=nested", [9]),
        (".a.b=flat", []),  # the nested field wins over the flat "a.b"
        ('."http.route"=/api/v1', [2]),
        (".http.route=/api/v1", [2]),  # no nested one: the flat name
        (".http.route", [2]),
        (".http.route=~^/api", [2]),
        (".http", []),
        ('."http.route"=/api*', [2]),
        (".ключ=значение", [7]),
        (".user_id=42", [11]),
        # Existence, booleans, null.
        (".caller", [1]),
        (".gone", [7]),
        (".ok=true", [7]),
        (".ok=1", []),
        (".gone=null", [7]),
        ("-.status", [4, 5, 8, 12]),
        # Globs, regexes and negations (which also take events without the field).
        (".status=5*", [1, 2, 6]),
        (".caller=~^payment/.*go", [1]),
        (".status=~^50[23]$", [1, 6]),
        (".status!=500", [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
        (".caller!~payment", [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
        ("-(.status>=500)", [0, 3, 4, 5, 7, 8, 10, 11, 12]),
        # With text, levels and sources.
        (".status>=500 boom", [1]),
        (".status>=500 level=error", [1, 6]),
        (".status>=500 OR ok", [0, 1, 2, 6, 7, 9]),  # 7: `"ok":true` holds the word
        ("restart=1", [12]),
        ("restart>=1 .status", []),
        ("restart=0 .status>=599", [9]),  # 599 is in a row stored without fields
    ],
)
def test_field_queries_find_exactly_their_events(
    fields_store: Store, text: str, expected: list[int]
) -> None:
    assert _found(fields_store, text) == expected


def test_field_queries_count_and_facet(fields_store: Store) -> None:
    reader = fields_store.reader()
    try:
        assert reader.count(".status>=500") == (4, True)
        values, exact = reader.facets(".status>=500", "level")
        assert dict(values) == {"error": 2, "warn": 1, "none": 1} and exact
    finally:
        reader.close()


_PIECES = st.sampled_from(
    [".", '"', "=", "<", ">", "~", "!", "-", "x", "5", " ", "(", ")", "status", "*", "a.b", "é",
     "restart", "\\", "NOT", "OR", "^", "$", "true", "null", "1e3", "'"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_any_text_is_a_query_error_or_runs(fields_store: Store, text: str) -> None:
    try:
        parse(text)
    except QueryError:
        return
    _found(fields_store, text)  # no SQL error (invalid JSON, NULL fields, odd names)


def test_field_names_of_the_matching_events(fields_store: Store) -> None:
    reader = fields_store.reader()
    try:
        names = dict(reader.field_names(""))
        assert names == {
            ".status": 9,
            ".latency_ms": 2,
            '."http.route"': 1,
            ".user.id": 1,
            ".user.name": 1,
            ".caller": 1,
            ".ok": 1,
            ".gone": 1,
            ".ключ": 1,
            '."a.b"': 1,
            ".a.b": 1,
            ".ts": 1,
            ".user_id": 1,
        }  # msg and level are the message and level, not listed
        assert dict(reader.field_names("level=error")) == {
            ".status": 3,
            ".caller": 1,
            ".ts": 1,
            ".user_id": 1,
        }
        assert [n for n, _ in reader.field_names("", sample=1)] == [".status", ".ts", ".user_id"]
    finally:
        reader.close()


def test_field_values_with_counts(fields_store: Store) -> None:
    reader = fields_store.reader()
    try:
        # JSON's 503 and logfmt's "500" alike; 1e3 is JSON's 1000.0.
        values, exact = reader.facets("", ".status")
        assert exact
        assert values == [
            ("007", 1), ("1000.0", 1), ("200", 1), ("201", 1), ("404", 1), ("500", 1),
            ("502", 1), ("503", 1), ("abc", 1),
        ]  # fmt: skip
        assert reader.facets(".status>=500", ".status") == (
            [("1000.0", 1), ("500", 1), ("502", 1), ("503", 1)],
            True,
        )
        assert reader.facets("", ".ok") == ([("true", 1)], True)
        assert reader.facets("", ".gone") == ([("null", 1)], True)
        assert reader.facets("", '."a.b"') == ([("flat", 1)], True)
        assert reader.facets("", ".a.b") == ([("nested", 1)], True)
        assert reader.facets("", ".http.route") == ([("/api/v1", 1)], True)
        assert reader.field_values("", ".status", sample=2) == ([("007", 1), ("201", 1)], False)
        # A value picked from the facets narrows to exactly its events.
        for value, n in values:
            assert len(_found(fields_store, with_field("", ".status", value))) == n, value
    finally:
        reader.close()


def test_counts_of_a_field_query_read_the_newest_lines_only_and_say_so(
    fields_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = fields_store.reader()
    try:
        assert reader.count(".status") == (9, True)
        buckets, exact = reader.histogram_of_all(".status", 10)
        assert (sum(b.total for b in buckets), exact) == (9, True)
        # The newest 5 lines: events 8 (invalid JSON) to 11 and the old row without fields.
        monkeypatch.setattr("klogtui.store.aggregates._FIELD_SCAN_LINES", 5)
        assert reader.count(".status") == (3, False)
        buckets, exact = reader.histogram_of_all(".status", 10)
        assert (sum(b.total for b in buckets), exact) == (3, False)
        levels, exact = reader.facets(".status", "level")
        assert (sum(n for _, n in levels), exact) == (3, False)
        # Queries that read no fields count everything, as before.
        assert reader.count("restart=0") == (12, True)
    finally:
        reader.close()
