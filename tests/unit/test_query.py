"""The query language: parsing, errors, round trip, and SQL run against a real FTS5 db."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from klogtui.errors import QueryError
from klogtui.model import Source, SourceKey
from klogtui.query.ast import And, Field, Node, Not, Or, Query, Text, TimeBound, to_text
from klogtui.query.editing import with_field, without_field
from klogtui.query.keys import label_name
from klogtui.query.parser import parse
from klogtui.query.times import parse_duration_ns
from klogtui.regex_budget import Budget
from klogtui.store import text_codec, text_keys, text_terms
from klogtui.store.compile import (
    CompiledQuery,
    compile_query,
    compile_source_predicate,
    matcher,
)
from klogtui.store.ids import SLOT_BITS, id_for_ts
from klogtui.store.text_codec import MESSAGE
from klogtui.store.text_terms import MATCH_FUNCTION

MIN = 60 * 10**9
T0 = int(datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp()) * 10**9
NOW = T0 + 20 * MIN  # every line is in the past


def _src(sid: int, ns: str, pod: str, container: str, node: str, labels: dict[str, str]) -> Source:
    return Source(
        id=sid, key=SourceKey(ns, pod, container), container_id="", node=node, labels=labels,
        state="running", reason="", first_ts=0, last_ts=0, lines=0,
    )  # fmt: skip


SOURCES = [
    _src(1, "shop", "checkout-7d9", "app", "node-a", {"app": "web", "tier": "front"}),
    _src(2, "shop", "checkout-7d9", "istio-proxy", "node-a", {"app": "web"}),
    _src(3, "shop", "cart-5f", "app", "node-b", {"app": "cart", "app.kubernetes.io/name": "cart"}),
    _src(4, "kube-system", "coredns-1", "coredns", "node-b", {"k8s-app": "kube-dns", "pod": "p"}),
    _src(5, "default", "Web-1", "main", "node-c", {}),
]

# (source id, stream, level, message); line n (1-based) is at T0 + n minutes.
LINES = [
    (1, 1, 3, "GET /healthz 200"),  # 1
    (1, 2, 5, "connection refused to payment service"),  # 2
    (2, 1, 3, "upstream connect error -> retry"),  # 3
    (3, 1, 4, "timeout waiting for invoice"),  # 4
    (3, 2, 5, "payment failed: timeout"),  # 5
    (4, 1, 3, "x::y resolved"),  # 6
    (4, 0, 0, 'malformed {"a":1}'),  # 7
    (5, 1, 2, "Café crème"),  # 8
    (1, 1, 6, 'panic: NEAR(x) col:x ^x a" OR "b'),  # 9
    (1, 1, 1, "timeouts everywhere"),  # 10
    (2, 2, 4, "the connection was refused"),  # 11
    (5, 1, 3, "healthz ok; DROP TABLE lines; --"),  # 12
]
ALL = set(range(1, len(LINES) + 1))


def line_id(n: int) -> int:
    return id_for_ts(T0 + n * MIN)


# A key shift that puts these lines (a minute apart) two to four to a key: the worst
# case of a store keyed by 10 µs bucket (SLOT_BITS), where most lines are alone.
SHARED_SHIFT = 39


def _build_db(detail: str, shift: int = 0) -> sqlite3.Connection:
    """The lines in a table and a text index with `detail` (full: stores made before
    schema 7, which match phrases in FTS5; none: since, phrases checked on the text),
    its rows keyed by line id >> shift (text_keys.py; 0: by line id, the stores made
    before schema 8). Each line is its own row, so lines sharing a key are in the
    index as a bucket written by several transactions is."""
    conn = sqlite3.connect(":memory:")
    text_codec.register(conn)  # compiled queries read the text through it
    text_terms.register(conn)  # and check phrases through it
    content = "content=''" if shift else "content='lines', content_rowid='id'"
    conn.executescript(
        f"""
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE lines(id INTEGER PRIMARY KEY, ts INTEGER, source_id INTEGER,
                           stream INTEGER, level INTEGER, flags INTEGER, message TEXT,
                           fields TEXT);
        CREATE VIRTUAL TABLE lines_fts USING fts5(message, {content}, columnsize=0,
                                                  detail={detail});
        """
    )
    if shift:
        conn.execute("INSERT INTO meta VALUES(?, ?)", (text_keys.META_KEY, str(shift)))
    for n, (sid, stream, level, msg) in enumerate(LINES, 1):
        conn.execute(
            "INSERT INTO lines VALUES(?, ?, ?, ?, ?, 0, ?, NULL)",
            (line_id(n), T0 + n * MIN, sid, stream, level, msg),
        )
        conn.execute(
            "INSERT INTO lines_fts(rowid, message) VALUES(?, ?)", (line_id(n) >> shift, msg)
        )
    return conn


@pytest.fixture(
    scope="module",
    params=[("full", 0), ("none", 0), ("none", SLOT_BITS), ("none", SHARED_SHIFT)],
    ids=["by-id-positions", "by-id", "by-bucket", "shared-keys"],
)
def db(request: pytest.FixtureRequest) -> Iterator[sqlite3.Connection]:
    conn = _build_db(*request.param)
    yield conn
    conn.close()


def test_shared_keys_hold_lines_alone_and_together() -> None:
    """The shared-keys store has both kinds of key, so both paths of the check run."""
    sizes = Counter(line_id(n) >> SHARED_SHIFT for n in ALL).values()
    assert min(sizes) == 1 and max(sizes) > 1


def compiled(conn: sqlite3.Connection, q: Query) -> CompiledQuery:
    """q compiled for conn's text index, as a reader compiles it for its store."""
    return compile_query(
        q, SOURCES, NOW, positions=text_terms.keeps_positions(conn), keys=text_keys.of(conn)
    )


def run(conn: sqlite3.Connection, cq: CompiledQuery) -> set[int]:
    """Line numbers matching cq, checked two ways that must agree.

    The whole predicate in one WHERE, and the split form a reader uses (MATCH driving
    the scan, then where, source ids and id bounds).
    """
    by_id = {line_id(n): n for n in ALL}
    sql, params = cq.full_where()
    whole = {by_id[r[0]] for r in conn.execute(f"SELECT l.id FROM lines l WHERE {sql}", params)}
    lo = -1 if cq.min_id is None else cq.min_id - 1
    hi = (1 << 63) - 1 if cq.max_id is None else cq.max_id
    src = ""
    if cq.source_ids is not None:
        src = f" AND l.source_id IN ({','.join(map(str, cq.source_ids)) or 'NULL'})"
    if cq.fts is not None:
        keys = cq.keys
        split_sql = (
            f"SELECT l.id FROM lines_fts f CROSS JOIN lines l ON {keys.lines_of_key('f.rowid')} "
            "WHERE lines_fts MATCH ? AND f.rowid > ? AND f.rowid < ? AND l.id > ? AND l.id < ? "
            f"AND ({cq.where}){src}"
        )
        args: tuple[object, ...] = (
            cq.fts, keys.key_above(lo), keys.key_below(hi), lo, hi, *cq.params
        )  # fmt: skip
    else:
        split_sql = f"SELECT l.id FROM lines l WHERE l.id > ? AND l.id < ? AND ({cq.where}){src}"
        args = (lo, hi, *cq.params)
    split = {by_id[r[0]] for r in conn.execute(split_sql, args)}
    assert whole == split
    return whole


def rows(conn: sqlite3.Connection, text: str) -> set[int]:
    return run(conn, compiled(conn, parse(text)))


# -- parsing ----------------------------------------------------------------------------


def test_design_example_parses_to_the_expected_tree() -> None:
    q = parse(
        "ns=shop pod=checkout-* container!=istio-proxy stream=stderr app=web level=error "
        '"connection refused" timeout -healthz (payment OR invoice) since:15m'
    )
    assert q == And(
        (
            Field("namespace", "=", "shop"),
            Field("pod", "=", "checkout-*"),
            Field("container", "!=", "istio-proxy"),
            Field("stream", "=", "stderr"),
            Field("app", "=", "web"),
            Field("level", "=", "error"),
            Text("connection refused", phrase=True),
            Text("timeout"),
            Not(Text("healthz")),
            Or((Text("payment"), Text("invoice"))),
            TimeBound("since", "15m"),
        )
    )


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("", None),
        ("   \t ", None),
        ("a b OR c", Or((And((Text("a"), Text("b"))), Text("c")))),
        ("a AND b", And((Text("a"), Text("b")))),
        ("(a b) c", And((Text("a"), Text("b"), Text("c")))),
        ("a OR (b OR c)", Or((Text("a"), Text("b"), Text("c")))),
        ("NOT a", Not(Text("a"))),
        ("-(a OR b)", Not(Or((Text("a"), Text("b"))))),
        ("NOT -a", Not(Not(Text("a")))),
        ("timeo*", Text("timeo", prefix=True)),
        ('"a b"*', Text("a b", phrase=True, prefix=True)),
        ("or and not", And((Text("or"), Text("and"), Text("not")))),
        ('"OR"', Text("OR", phrase=True)),
        ("->", Text("->")),
        ("--verbose", Text("--verbose")),
        ("a-b", Text("a-b")),
        ("- x", And((Text("-"), Text("x")))),
        ("node:internal", Text("node:internal")),
        ("a->b", Text("a->b")),
        ('x"y z"', And((Text("x"), Text("y z", phrase=True)))),
        (r'"a\"b\\c\d"', Text('a"b\\c\\d', phrase=True)),
        ("ns=a c=b", And((Field("namespace", "=", "a"), Field("container", "=", "b")))),
        ("NS=a", Field("namespace", "=", "a")),
        ("label.app=web", Field("app", "=", "web")),
        ("label.pod=x", Field("label.pod", "=", "x")),
        ("label.label.x=1", Field("label.label.x", "=", "1")),
        ("app.kubernetes.io/name=cart", Field("app.kubernetes.io/name", "=", "cart")),
        ('pod="a b"', Field("pod", "=", "a b")),
        ("pod=~^(web|api)-", Field("pod", "=~", "^(web|api)-")),
        ("(pod=~(a|b))", Field("pod", "=~", "(a|b)")),
        ("pod!~x", Field("pod", "!~", "x")),
        ("-pod=x", Not(Field("pod", "=", "x"))),
        ("level=WARNING", Field("level", "=", "WARNING")),
        ("since:1h30m until:2026-11-24", And((TimeBound("since", "1h30m"),
                                             TimeBound("until", "2026-11-24")))),
        ('since:"2026-11-24 10:00"', TimeBound("since", "2026-11-24 10:00")),
        ("Since:2026-11-24T10:00:00.5+02:00", TimeBound("since", "2026-11-24T10:00:00.5+02:00")),
    ],
)  # fmt: skip
def test_parse(text: str, tree: Query) -> None:
    assert parse(text) == tree
    assert parse(to_text(tree)) == tree


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ('a "unterminated', 2, "unterminated quote"),
        ('pod="a', 4, "unterminated quote"),
        ('"a\\"', 0, "unterminated quote"),
        ("(a b", 0, "unclosed '('"),
        ("a (b (c)", 2, "unclosed '('"),
        ("a b)", 3, "unmatched ')'"),
        ("()", 0, "empty parentheses"),
        ("a OR", 2, "OR needs a term"),
        ("OR a", 0, "OR needs a term"),
        ("a OR OR b", 2, "OR needs a term"),
        ("(a OR) b", 3, "OR needs a term"),
        ("a AND", 2, "AND needs a term"),
        ("a NOT", 2, "NOT needs a term"),
        ("-(", 1, "unclosed '('"),
        ("pod=", 3, "needs a value"),
        ("pod= x", 4, "needs a value"),
        ('pod=""', 4, "needs a value"),
        ('""', 0, "empty quotes"),
        ("a pod=~(x", 7, "bad regex"),
        ("level=~[", 7, "bad regex"),
        ("level=eror", 6, "unknown level"),
        ("stream=out", 7, "unknown stream"),
        ("x since:5x", 8, "bad time"),
        ("since:", 5, "needs a value"),
        ("until:2026-13-01", 6, "bad time"),
        ("until:2026-11-24T25:00", 6, "bad time"),
        ("since:2026-11-24T10:00+24:00", 6, "offset"),
        ("since=5m", 5, "since:VALUE"),
        ("pod==x", 3, "unknown operator '=='"),
        ("level<3", 5, "< compares numbers"),
        ("app=>x", 3, "unknown operator"),
        ("label.=x", 0, "label name"),
        ("*", 0, "'*' needs a word"),
        ("ok \udcff", 3, "invalid character"),
        ("(" * 70 + "a" + ")" * 70, 64, "nested too deeply"),
    ],
)
def test_error_column(text: str, column: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(text)
    err = info.value
    assert (err.column, err.query) == (column, text)
    assert message in err.message
    assert err.pointer().splitlines()[1].startswith(" " * column + "^ ")


# -- compiling: exact rows ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ALL),
        # fields on sources
        ("ns=shop", {1, 2, 3, 4, 5, 9, 10, 11}),
        ("namespace!=shop", {6, 7, 8, 12}),
        ("pod=checkout-*", {1, 2, 3, 9, 10, 11}),
        ("pod=*-1", {6, 7, 8, 12}),
        ("pod=web-1", set()),  # names are case-sensitive
        ("pod=Web-1", {8, 12}),
        ("pod=checkout", set()),  # globs match the whole name
        ("pod=~^c", ALL - {8, 12}),
        ("pod=~out", {1, 2, 3, 9, 10, 11}),  # regexes search
        ("pod!~^c", {8, 12}),
        ("c=istio-proxy", {3, 11}),
        ("container!=app", {3, 6, 7, 8, 11, 12}),
        ("node=node-b", {4, 5, 6, 7}),
        ("node=~^node-[ab]$", {1, 2, 3, 4, 5, 6, 7, 9, 10, 11}),
        # labels
        ("app=web", {1, 2, 3, 9, 10, 11}),
        ("label.app=cart", {4, 5}),
        ("app!=web", {4, 5, 6, 7, 8, 12}),  # as in Kubernetes: no label counts as !=
        ("app=*", {1, 2, 3, 4, 5, 9, 10, 11}),  # has the label
        ("-app=*", {6, 7, 8, 12}),
        ("app.kubernetes.io/name=cart", {4, 5}),
        ("label.pod=p", {6, 7}),
        ("k8s-app=~dns", {6, 7}),
        ("tier=front app=web", {1, 2, 9, 10}),
        # stream and level
        ("stream=stderr", {2, 5, 11}),
        ("stream=STDOUT", {1, 3, 4, 6, 8, 9, 10, 12}),
        ("stream=raw", {7}),
        ("stream!=stdout", {2, 5, 7, 11}),
        ("stream=std*", ALL - {7}),
        ("stream=~err", {2, 5, 11}),
        ("level=error", {2, 5}),
        ("level=err", {2, 5}),
        ("level=warning", {4, 11}),
        ("level=critical", {9}),
        ("level=none", {7}),
        ("level=unknown", {7}),
        ("level!=info", ALL - {1, 3, 6, 12}),
        ("level=~^(warn|error|fatal)$", {2, 4, 5, 9, 11}),
        ("level!~^(warn|error|fatal)$", {1, 3, 6, 7, 8, 10, 12}),
        ("level=*", ALL),
        ("level=crit*", {9}),
        ("level=x*", set()),
        # text
        ("timeout", {4, 5}),
        ("TIMEOUT", {4, 5}),
        ("timeout*", {4, 5, 10}),
        ("time*", {4, 5, 10}),
        ("refused connection", {2, 11}),
        ('"connection refused"', {2}),
        ('"refused connection"', set()),
        ('"connection refused"*', {2}),
        ('"the connection w"*', {11}),
        ("cafe", {8}),  # unicode61 folds accents
        ("café CRÈME", {8}),
        ('"CAFE crème"', {8}),  # a phrase, folded as unicode61 folds it
        ('"crème café"', set()),
        ('-"cafe creme" cafe', set()),
        ("payment -timeout", {2}),
        ("-healthz", ALL - {1, 12}),
        ("-healthz -timeout", ALL - {1, 4, 5, 12}),
        ("NOT healthz NOT payment", ALL - {1, 2, 5, 12}),
        ("payment OR invoice", {2, 4, 5}),
        ("(payment OR invoice) -failed", {2, 4}),
        # A NOT under an OR: keyed by bucket, line 4's key also holds line 5 (failed).
        ("(timeout -failed) OR healthz", {1, 4, 12}),
        ("timeout -(payment OR invoice)", set()),
        ("-(payment invoice)", ALL),
        ("-(payment timeout)", ALL - {5}),
        # substrings for terms without tokens
        ("::", {6}),
        ("->", {3}),
        ('"->" retry', {3}),
        ('-"::"', ALL - {6}),
        ("NOT ::", ALL - {6}),
        ("-::", set()),  # "-" before a non-word char is not a negation
        ("-> OR ::", {3, 6}),
        ('"; --"', {12}),
        # mixed
        ("level=error OR invoice", {2, 4, 5}),
        ("pod=cart-* OR healthz", {1, 4, 5, 12}),
        ("(pod=cart-* OR healthz) -timeout", {1, 12}),
        ("-(app=web OR level=debug)", {4, 5, 6, 7, 12}),
        ("timeout OR ::", {4, 5, 6}),
        ("(timeout OR ::) -(level=warn)", {5, 6}),
        ("NOT (-> OR stream=raw)", ALL - {3, 7}),
        ("ns=shop level=error payment", {2, 5}),
        # time bounds: line n is at T0 + n minutes, now is T0 + 20 minutes
        ("since:2026-11-24T10:10", {10, 11, 12}),
        ("until:2026-11-24T10:03", {1, 2}),
        ("since:2026-11-24T10:02 until:2026-11-24T10:04:00Z", {2, 3}),
        ("since:2026-11-24T12:02+02:00 until:2026-11-24T10:04:00.00001", {2, 3, 4}),
        # ids have 10 µs buckets: an until inside line 4's bucket keeps line 4, which is
        # stamped before it (rounding the bound down to the bucket's start dropped it)
        ("until:2026-11-24T10:04:00.000009999", {1, 2, 3, 4}),
        ("since:2026-11-24 until:2026-11-24T10:01:30", {1}),
        ("since:9m", {11, 12}),
        ("since:10m", {10, 11, 12}),
        ("since:1h until:18m", {1}),
        ("since:2d", ALL),
        ("since:0s", set()),
        ("since:10m since:9m", {11, 12}),
        ("until:9m until:18m", {1}),
        ("since:9m OR until:18m", {1, 11, 12}),
        ("-since:9m", set(range(1, 11))),
        ("timeout since:2026-11-24T10:05", {5}),
    ],
)
def test_rows(db: sqlite3.Connection, text: str, expected: set[int]) -> None:
    assert rows(db, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        'a" OR "b',
        '"a\\" OR \\"b"',
        "NEAR(x",
        "NEAR(a b)",
        '"NEAR(x)"',
        "^x",
        "col:x",
        "message:x",
        '"col:x"',
        '"^x"',
        "x*",
        '"*"',
        "**",
        "+x",
        '"a"*',
        "'; DROP TABLE lines; --",
        '"\'; DROP TABLE lines; --"',
        "\\",
        '"\\\\"',
        "pod='; DROP TABLE lines; --",
        "app=\"'x'\"",
        "a\x00b",
        '"\x00"',
        "(x) AND (y) OR (z)",
    ],
)
def test_nasty_text_is_data(db: sqlite3.Connection, text: str) -> None:
    try:
        q = parse(text)
    except QueryError:
        return
    rows(db, text)
    rows(db, to_text(q))
    assert db.execute("SELECT count(*) FROM lines").fetchone()[0] == len(LINES)


def test_nasty_strings_find_themselves(db: sqlite3.Connection) -> None:
    assert rows(db, '"NEAR(x)"') == {9}
    assert rows(db, '"col:x"') == {9}
    assert rows(db, "col:x") == {9}
    assert rows(db, "^x") == {6, 9}  # the token x
    assert rows(db, r'"a\" OR \"b"') == {9}  # a phrase, not an OR
    assert rows(db, 'a" OR "b') == {9}
    assert rows(db, "'; DROP TABLE lines; --") == set()  # ' is not in line 12
    assert rows(db, '"DROP TABLE lines"') == {12}


# -- compiled fields ------------------------------------------------------------------------


def _c(text: str) -> CompiledQuery:
    """text compiled for a store whose index matches phrases itself (before schema 7)."""
    return compile_query(parse(text), SOURCES, NOW, positions=True)


def test_compiled_text_goes_to_one_fts_expression() -> None:
    cq = _c('timeout "connection refused" -healthz -(a OR b) pay* (x OR y z)')
    assert cq.fts == (
        '("timeout" AND "connection refused" AND "pay" * AND ("x" OR ("y" AND "z")))'
        ' NOT ("healthz" OR ("a" OR "b"))'
    )
    assert (cq.where, cq.params) == ("1", ())
    assert cq.highlight == ("timeout", "connection refused", "pay", "x", "y", "z")
    assert cq.is_text


def test_compiled_quotes_are_doubled_in_fts() -> None:
    assert _c(r'"say \"hi\""').fts == '"say ""hi"""'


def test_without_positions_a_phrase_is_its_tokens_then_checked_on_the_text() -> None:
    """Since schema 7 the index keeps no positions: FTS5 gets the phrase's tokens (the
    last a prefix for `"..."*`), and the phrase is checked on the lines it finds."""
    q = parse('timeout "Connection refused" "pay ser"* -healthz')
    cq = compile_query(q, SOURCES, NOW)
    assert cq.fts == (
        '("timeout" AND ("connection" AND "refused") AND ("pay" AND "ser" *)) NOT ("healthz")'
    )
    assert cq.where == (f"{MATCH_FUNCTION}({MESSAGE}, ?) AND {MATCH_FUNCTION}({MESSAGE}, ?)")
    assert cq.highlight == (
        "timeout",
        "Connection refused",
        "pay ser",
    )
    # A phrase FTS5 cannot subtract is subtracted on the text.
    cq = compile_query(parse('timeout -"connection refused"'), SOURCES, NOW)
    assert cq.fts == '"timeout"'
    assert cq.where == f"NOT ({MATCH_FUNCTION}({MESSAGE}, ?))"


def test_compiled_negation_only_text_uses_not_in() -> None:
    cq = _c("-healthz -timeout")
    assert cq.fts is None
    assert cq.where == "l.id NOT IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)"
    assert cq.params == ('"healthz" OR "timeout"',)
    assert cq.highlight == ()
    assert cq.is_text


def test_compiled_tokenless_terms_stay_out_of_fts() -> None:
    cq = _c("-> retry")
    assert cq.fts == '"retry"'
    assert cq.where == f"instr({MESSAGE}, ?) > 0"
    assert cq.params == ("->",)
    assert cq.highlight == ("->", "retry")


def test_compiled_mixed_or_puts_text_in_where() -> None:
    cq = _c("level=error OR invoice*")
    assert cq.fts is None
    assert cq.where == (
        "(l.level IN (5) OR l.id IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?))"
    )
    assert cq.params == ('"invoice" *',)


def test_compiled_source_ids_intersect_top_level_conjuncts() -> None:
    cq = _c("ns=shop (pod=cart-* OR c=istio-proxy) level=error")
    assert cq.source_ids == frozenset({2, 3})
    assert cq.where == "l.level IN (5)"
    assert not cq.is_text
    assert _c("ns=nothing").source_ids == frozenset()
    assert _c("timeout").source_ids is None
    assert _c("pod=x OR timeout").source_ids is None


def test_compiled_source_predicates_under_or_inline_ids() -> None:
    cq = _c("pod=cart-* OR level=fatal")
    assert cq.where == "(l.source_id IN (3) OR l.level IN (6))"
    assert _c("ns=none OR level=fatal").where == "(0 OR l.level IN (6))"


def test_compiled_time_bounds() -> None:
    cq = _c("since:2026-11-24T10:05 until:15m")
    assert cq.min_id == id_for_ts(T0 + 5 * MIN)  # inclusive
    assert cq.max_id == id_for_ts(NOW - 15 * MIN)  # exclusive
    assert cq.where == "1"
    empty = _c("")
    assert (empty.min_id, empty.max_id, empty.fts, empty.where, empty.source_ids) == (
        None, None, None, "1", None,
    )  # fmt: skip


def test_source_predicate_for_the_ui() -> None:
    pred = compile_source_predicate(parse("ns=shop -c=istio-proxy timeout"))
    assert pred is not None
    assert [s.id for s in SOURCES if pred(s)] == [1, 3]
    assert compile_source_predicate(parse("timeout level=error")) is None
    assert compile_source_predicate(parse("pod=a OR timeout")) is None
    assert compile_source_predicate(None) is None


def _glob_as_regex(glob: str) -> re.Pattern[str]:
    """What a glob meant when it was matched as a regex: only `*` special, whole value."""
    return re.compile("(?s:" + ".*".join(re.escape(p) for p in glob.split("*")) + ")")


@given(
    st.lists(st.text("ab-*\n", max_size=4), min_size=2, max_size=5).map("*".join),
    st.text("ab-\n", max_size=12),
)
@example("ab*ba", "aba")  # the start and the end may not share a character
@example("a*a*a", "aa")
@example("*", "")
def test_globs_match_the_names_their_regex_matched(glob: str, name: str) -> None:
    expected = _glob_as_regex(glob).fullmatch(name) is not None
    assert matcher("=", glob, False, Budget(1.0))(name) == expected


def test_a_backtracking_glob_spends_no_regex_budget() -> None:
    # As a regex, `*a*a*a*a*b` against 40 a's backtracks; the budget is already spent,
    # so anything that still needed a regex would fail the query.
    spent = Budget(0.0)
    assert not matcher("=", "*a*a*a*a*b", False, spent)("a" * 40)
    assert matcher("=", "*a*a*a*a*b", False, spent)("a" * 40 + "b")
    assert matcher("=", "DEPLOY*", True, spent)("Deployment")  # kind= folds case


def test_parse_duration_ns() -> None:
    assert parse_duration_ns("1h30m") == 90 * MIN
    assert parse_duration_ns("7d") == 7 * 24 * 60 * MIN
    assert parse_duration_ns("1w") == parse_duration_ns("7d")
    assert parse_duration_ns("45s") == 45 * 10**9
    for bad in ("", "1", "1x", "2026-11-24", "-1h", "1h "):
        with pytest.raises(QueryError):
            parse_duration_ns(bad)


def test_label_name() -> None:
    assert [label_name(k) for k in ("app", "label.pod", "pod", "namespace", "level")] == [
        "app", "pod", None, None, None,
    ]  # fmt: skip


# -- editing query text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "key", "value", "after"),
    [
        ("", "pod", "web-1", "pod=web-1"),
        ("timeout", "pod", "web-1", "pod=web-1 timeout"),
        ("ns=shop timeout", "pod", "web-1", "namespace=shop pod=web-1 timeout"),
        ("ns=shop pod=a timeout", "pod", "b", "namespace=shop pod=b timeout"),
        ("pod=a timeout pod!=c", "pod", "b", "pod=b timeout"),
        ("ns=shop timeout", "ns", "dev", "namespace=dev timeout"),
        ("a OR b", "container", "app", "container=app (a OR b)"),
        ("(pod=a OR x) y", "pod", "b", "pod=b (pod=a OR x) y"),
        ("x", "app", "my app", 'app="my app" x'),
    ],
)
def test_with_field(before: str, key: str, value: str, after: str) -> None:
    assert with_field(before, key, value) == after


def test_without_field() -> None:
    assert without_field("ns=shop pod=a timeout -pod=b", "pod") == "namespace=shop timeout -pod=b"
    assert without_field("pod=a", "pod") == ""
    assert without_field("ns=a ns!=b", "namespace") == ""
    with pytest.raises(QueryError):
        without_field("(", "pod")
    with pytest.raises(QueryError):
        with_field("x", "since", "1h")


# -- properties -----------------------------------------------------------------------------

BARE_WORDS = [
    "timeout",
    "payment",
    "GET",
    "x::y",
    "->",
    "::",
    "a-b",
    "node:internal",
    "--verbose",
    "crème",
    "refused",
    "healthz",
    "caf",
    "x.y/z",
    "OR5",
    "a->b",
]
PHRASES = [
    "connection refused",
    "the connection",
    "DROP TABLE lines",
    "x::y",
    'a" OR "b',
    "NEAR(x)",
    "col:x",
    "^x",
    "*",
    "\\",
    "OR",
    "-x",
    "pod=x",
    "",
    "healthz 200",
]
GLOBS = ["checkout-*", "*-1", "app", "*", "cart-5f", "Web-1", "c*t*", "istio-proxy", "a b"]
REGEXES = ["^c", "out", "^node-[ab]$", "(a|b)", "x\\d", '"', "", "^$", "[()]"]
TIMES = [
    "2026-11-24T10:05",
    "2026-11-24T10:02:30Z",
    "2026-11-24",
    "2026-11-24T12:03+02:00",
    "5m",
    "1h",
    "9m30s",
    "0s",
    "2026-11-24 10:07",
]
LABEL_KEYS = ["app", "tier", "label.pod", "k8s-app", "app.kubernetes.io/name", "label.label.x"]
LEVELS = ["error", "warn", "WARNING", "none", "err", "info", "crit*", "*", "fatal", "debug"]
STREAMS = ["stdout", "stderr", "raw", "std*", "STDERR"]  # fmt: skip


def _fields() -> st.SearchStrategy[Node]:
    source = st.builds(
        Field,
        st.sampled_from(["namespace", "pod", "container", "node", *LABEL_KEYS]),
        st.sampled_from(["=", "!="]),
        st.sampled_from(GLOBS),
    ) | st.builds(
        Field,
        st.sampled_from(["pod", "namespace", "app", "node"]),
        st.sampled_from(["=~", "!~"]),
        st.sampled_from([r for r in REGEXES if r]),
    )
    line = st.builds(
        Field, st.just("level"), st.sampled_from(["=", "!="]), st.sampled_from(LEVELS)
    ) | st.builds(Field, st.just("stream"), st.sampled_from(["=", "!="]), st.sampled_from(STREAMS))
    return source | line


def _leaves() -> st.SearchStrategy[Node]:
    bare = st.builds(Text, st.sampled_from(BARE_WORDS), st.just(False), st.booleans())
    phrase = st.builds(
        Text, st.sampled_from([p for p in PHRASES if p]), st.just(True), st.booleans()
    )
    time = st.builds(TimeBound, st.sampled_from(["since", "until"]), st.sampled_from(TIMES))
    return bare | phrase | time | _fields()


def _normalized(cls: type[And] | type[Or], items: list[Node]) -> Node:
    flat: list[Node] = []
    for i in items:
        flat.extend(i.items if isinstance(i, cls) else (i,))
    return cls(tuple(flat))


def _trees(leaves: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.recursive(
        leaves,
        lambda kids: (
            st.builds(Not, kids)
            | st.builds(_normalized, st.just(And), st.lists(kids, min_size=2, max_size=4))
            | st.builds(_normalized, st.just(Or), st.lists(kids, min_size=2, max_size=4))
        ),
        max_leaves=10,
    )


def _rich_leaves() -> st.SearchStrategy[Node]:
    """Leaves with arbitrary text wherever the syntax can quote it."""
    any_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
    return (
        _leaves()
        | st.builds(Text, any_text, st.just(True), st.booleans())
        | st.builds(Field, st.sampled_from(["pod", "app", "label.c", "x_y"]),
                    st.sampled_from(["=", "!="]), any_text)
        | st.builds(Text, st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), st.just(False),
                    st.booleans())
    )  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_trees(_rich_leaves()))
def test_round_trip_of_generated_trees(tree: Node) -> None:
    assert parse(str(tree)) == tree


QUERY_PIECES = st.sampled_from(
    ["a", "b", "OR", "AND", "NOT", "-", "(", ")", '"', "*", "\\", " ", "pod", "=", "!", "~",
     "since:", "5m", "level", "err", ":", "^", "x", "app.io/n", "label.", "'", ";", "é", "\t"]
)  # fmt: skip
QUERY_TEXT = st.lists(QUERY_PIECES, max_size=16).map("".join) | st.text(max_size=40)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(QUERY_TEXT)
@example('a" OR "b')
@example("NEAR(")
@example("*")
@example("^x")
@example("col:x")
@example('"')
@example("\\")
@example("'; DROP TABLE lines; --")
@example("label.-=a")  # a label named "-": written bare, it read back as a NOT
@example(".@")  # a field query: the table must have the store's fields column
@example("0\x1b\U000191d3")  # one token to Python's Unicode, two to unicode61's
def test_any_text_is_a_query_error_or_a_safe_query(db: sqlite3.Connection, text: str) -> None:
    conn = db
    try:
        q = parse(text)
    except QueryError as e:
        assert 0 <= e.column <= len(text)
        return
    assert parse(to_text(q)) == q
    run(conn, compiled(conn, q))
    assert conn.execute("SELECT count(*) FROM lines").fetchone()[0] == len(LINES)


# -- compiled SQL agrees with a reference evaluator ----------------------------------------


def _tokens(s: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", s.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return re.findall(r"[^\W_]+", folded)


def _ref_text(t: Text, message: str) -> bool:
    want = _tokens(t.value)
    if not want:
        return t.value in message
    have = _tokens(message)
    for i in range(len(have) - len(want) + 1):
        head, last = have[i : i + len(want) - 1], have[i + len(want) - 1]
        if head == want[:-1] and (last.startswith(want[-1]) if t.prefix else last == want[-1]):
            return True
    return False


def _ref_match(pattern: str, op: str, value: str, fold: bool) -> bool:
    if op in ("=~", "!~"):
        return re.search(pattern, value, re.IGNORECASE if fold else 0) is not None
    if fold:
        pattern, value = pattern.lower(), value.lower()
    parts = pattern.split("*")
    if len(parts) == 1:
        return value == pattern
    if not (value.startswith(parts[0]) and value.endswith(parts[-1])):
        return False
    if len(value) < len(parts[0]) + len(parts[-1]):
        return False
    pos = len(parts[0])
    end = len(value) - len(parts[-1])
    for mid in parts[1:-1]:
        found = value.find(mid, pos, end)
        if found < 0:
            return False
        pos = found + len(mid)
    return True


_LEVEL_NAMES = {
    "none": 0,
    "unknown": 0,
    "trace": 1,
    "debug": 2,
    "info": 3,
    "warn": 4,
    "warning": 4,
    "error": 5,
    "err": 5,
    "fatal": 6,
    "critical": 6,
}
_STREAM_NAMES = {"raw": 0, "stdout": 1, "stderr": 2}  # fmt: skip


def _ref(node: Node, n: int) -> bool:
    sid, stream, level, message = LINES[n - 1]
    src = SOURCES[sid - 1]
    if isinstance(node, Text):
        return _ref_text(node, message)
    if isinstance(node, TimeBound):
        bound = id_for_ts(_ref_time(node.text))
        return line_id(n) >= bound if node.kind == "since" else line_id(n) < bound
    if isinstance(node, Not):
        return not _ref(node.item, n)
    if isinstance(node, And):
        return all(_ref(i, n) for i in node.items)
    if isinstance(node, Or):
        return any(_ref(i, n) for i in node.items)
    assert isinstance(node, Field)  # the trees here hold no event fields
    positive = node.op in ("=", "=~")
    op = node.op
    if node.key in ("level", "stream"):
        names = _LEVEL_NAMES if node.key == "level" else _STREAM_NAMES
        actual = level if node.key == "level" else stream
        hit = any(v == actual and _ref_match(node.value, op, k, True) for k, v in names.items())
        return hit == positive
    got: str | None
    if node.key in ("namespace", "pod", "container"):
        got = getattr(src.key, node.key)
    elif node.key == "node":
        got = src.node
    else:
        got = src.labels.get(node.key[6:] if node.key.startswith("label.") else node.key)
    hit = got is not None and _ref_match(node.value, op, got, False)
    return hit == positive


def _ref_time(text: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])(?:(\d+)s)?", text)
    if m:
        unit = {"s": 10**9, "m": MIN, "h": 60 * MIN}[m.group(2)]
        return NOW - int(m.group(1)) * unit - int(m.group(3) or 0) * 10**9
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 10**9


@settings(max_examples=300, deadline=None)
@given(_trees(_leaves()))
def test_sql_agrees_with_reference_semantics(db: sqlite3.Connection, tree: Node) -> None:
    got = run(db, compiled(db, tree))
    assert got == {n for n in ALL if _ref(tree, n)}
