"""Lines that share a 10 µs bucket, in a store whose text index is keyed by bucket.

Since schema 8 the index has one row per bucket (store/text_keys.py): a hit on it says
some line of the bucket has the words. Searches, counts, the histogram and alerts
must still tell those lines apart, newest-first pages must not skip or repeat one,
and retention must leave nothing of a bucket behind.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from klogtui.alerts.matcher import RuleMatcher, load_sources
from klogtui.model import Batch
from klogtui.store import Store, text_keys
from klogtui.store.ids import SLOT_BITS
from klogtui.store.retention import Retention
from klogtui.store.schema import connect
from tests.store_helpers import SEC, T0, assert_index_exact, key, newest_messages, rec, write

A, B, C = key(pod="a"), key(pod="b"), key(pod="c")


def _ids(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM lines ORDER BY id")]
    finally:
        conn.close()


def _shared_store(tmp_path: Path) -> Store:
    """Two sources writing within the same 10 µs (one word each), and a line alone."""
    store = Store.open(tmp_path / "s.db")
    write(
        store,
        Batch(
            [
                rec(T0, "alpha: connection refused", A),
                rec(T0 + 3_000, "beta: connection reset", B),
                rec(T0 + SEC, "alpha again, alone", C),
            ]
        ),
    )
    ids = _ids(store.path)
    assert ids[0] >> SLOT_BITS == ids[1] >> SLOT_BITS  # one bucket, one key
    return store


def test_lines_sharing_a_bucket_are_searched_each_on_its_own_text(tmp_path: Path) -> None:
    store = _shared_store(tmp_path)
    shared_a, shared_b, alone = (
        "alpha: connection refused",
        "beta: connection reset",
        "alpha again, alone",
    )
    assert newest_messages(store, "alpha") == [shared_a, alone]
    assert newest_messages(store, "-alpha") == [shared_b]
    assert newest_messages(store, "beta") == [shared_b]
    assert newest_messages(store, "connection -beta") == [shared_a]
    assert newest_messages(store, "alpha OR beta") == [shared_a, shared_b, alone]
    assert newest_messages(store, "(alpha -refused) OR reset") == [shared_b, alone]
    assert newest_messages(store, '"connection refused"') == [shared_a]
    assert newest_messages(store, '-"connection refused"') == [shared_b, alone]
    assert newest_messages(store, "alpha pod=b") == []
    assert_index_exact(store.path)


def test_counts_and_the_histogram_count_each_line_of_a_bucket(tmp_path: Path) -> None:
    store = _shared_store(tmp_path)
    reader = store.reader()
    try:
        counts = {q: reader.count(q) for q in ("alpha", "-alpha", "beta", "connection")}
        histogram, exact = reader.histogram(
            "alpha", T0 - SEC, T0 + 2 * SEC, buckets=3
        )  # one second each
    finally:
        reader.close()
    assert counts == {
        "alpha": (2, True),
        "-alpha": (1, True),
        "beta": (1, True),
        "connection": (2, True),
    }
    assert exact
    assert [b.total for b in histogram] == [0, 1, 1]


def test_newest_first_pages_walk_a_shared_bucket_newest_first(tmp_path: Path) -> None:
    """Five sources within one 10 µs: one line at a time, newest first, each once."""
    store = Store.open(tmp_path / "s.db")
    sources = [key(pod=f"p{i}") for i in range(5)]
    write(store, Batch([rec(T0 + i * 1_000, f"alpha {i}", s) for i, s in enumerate(sources)]))
    reader = store.reader()
    try:
        seen: list[str] = []
        cursor: int | None = None
        while page := reader.window_before("alpha", cursor, 2):
            seen = [ln.message for ln in page] + seen
            cursor = page[0].id
        newest = [ln.message for ln in reader.newest("alpha", 1)]
    finally:
        reader.close()
    assert newest == ["alpha 4"]
    assert seen == [f"alpha {i}" for i in range(5)]


def test_a_line_added_to_an_indexed_bucket_later_is_found(tmp_path: Path) -> None:
    """Two transactions write into one bucket: the index holds the key twice, and both
    lines' words find it (and only their own line)."""
    store = Store.open(tmp_path / "s.db")
    write(store, Batch([rec(T0, "alpha first", A)]))
    write(store, Batch([rec(T0 + 5_000, "beta late", B)]))
    first, late = _ids(store.path)
    assert first >> SLOT_BITS == late >> SLOT_BITS
    assert newest_messages(store, "alpha") == ["alpha first"]
    assert newest_messages(store, "beta") == ["beta late"]
    assert newest_messages(store, "-alpha") == ["beta late"]
    assert newest_messages(store, "alpha OR beta") == ["alpha first", "beta late"]
    assert_index_exact(store.path)


def test_retention_takes_a_shared_bucket_whole_and_leaves_no_stale_hit(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    write(store, Batch([rec(T0, "alpha first", A)]))
    write(store, Batch([rec(T0 + 5_000, "beta late", B), rec(T0 + SEC, "alpha kept", C)]))
    first, _, kept = _ids(store.path)
    conn = connect(store.path)
    try:
        conn.execute("BEGIN")
        # A cutoff inside the bucket: the rest of it (within 10 µs) goes too.
        assert Retention().delete_batch(conn, first + 1)[0] == 2
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert _ids(store.path) == [kept]
    assert newest_messages(store, "alpha OR beta") == ["alpha kept"]
    assert_index_exact(store.path)  # integrity-check, and no word of the bucket left


def test_an_alert_counts_each_line_of_a_bucket(tmp_path: Path) -> None:
    store = _shared_store(tmp_path)
    conn = connect(store.path)
    try:
        sources = load_sources(conn)
        counted = {}
        for rule in ("beta", "-beta", "alpha", "connection"):
            matcher = RuleMatcher(rule)
            matcher.compile(sources, T0 + 10 * SEC, text_keys.of(conn))
            counted[rule] = sum(c.n for c in matcher.count(conn, 0, (1 << 63) - 1))
    finally:
        conn.close()
    assert counted == {"beta": 1, "-beta": 2, "alpha": 2, "connection": 2}


def test_a_coloured_line_is_checked_on_its_text_without_escapes(tmp_path: Path) -> None:
    """The index holds a line's text without terminal escapes: so does the check on a
    line sharing its bucket, and the check of a phrase on a line alone."""
    store = Store.open(tmp_path / "s.db")
    coloured = "\x1b[31mERROR\x1b[0m Failed to resolve"
    write(
        store,
        Batch(
            [
                rec(T0, coloured, A),
                rec(T0 + 1, "plain neighbour", B),
                rec(T0 + SEC, f"{coloured} again", C),
            ]
        ),
    )
    assert newest_messages(store, "error") == [coloured, f"{coloured} again"]
    assert newest_messages(store, '"error failed"') == [coloured, f"{coloured} again"]
    assert newest_messages(store, "-error") == ["plain neighbour"]
