"""The store on real files: write, reopen, keyset windows, facets, histogram, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from klogtui.errors import StoreError
from klogtui.model import Batch, Level, LogLine, SourceInfo, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.store import Store
from tests.store_helpers import SEC, T0, key, rec, write


def messages(lines: list) -> list[str]:  # type: ignore[type-arg]
    return [ln.message for ln in lines]


def test_lines_survive_reopen_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    # Out of order on purpose: stdout and stderr of one file are not monotonic.
    write(store, Batch([rec(T0 + 2 * SEC, "b"), rec(T0 + 1 * SEC, "a"), rec(T0 + 3 * SEC, "c")]))
    reopened = Store.open(path).reader()
    assert messages(reopened.newest("", 10)) == ["a", "b", "c"]
    assert [ln.ts for ln in reopened.newest("", 10)] == [T0 + SEC, T0 + 2 * SEC, T0 + 3 * SEC]


def test_equal_timestamps_keep_arrival_order_and_page_both_ways(store: Store) -> None:
    # conmon reuses one timestamp for a whole read buffer: 2,500 lines, one instant.
    lines = [rec(T0, f"same-{i:04d}") for i in range(2500)]
    lines += [rec(T0 + SEC, "later")]
    write(store, Batch(lines))
    reader = store.reader()
    everything = []
    cursor = None
    while page := reader.window_after("", cursor, 333):
        everything += page
        cursor = page[-1].id
    assert messages(everything) == [f"same-{i:04d}" for i in range(2500)] + ["later"]
    backwards: list[LogLine] = []
    cursor = None
    while page := reader.window_before("", cursor, 333):
        backwards = page + backwards
        cursor = page[0].id
    assert backwards == everything
    assert len({ln.id for ln in everything}) == 2501


def test_same_instant_across_sources_and_batches_never_collides(store: Store) -> None:
    a, b = key(pod="a"), key(pod="b")
    write(store, Batch([rec(T0, "a1", a), rec(T0, "b1", b)]), Batch([rec(T0, "a2", a)]))
    # A second writer session (restart) writing into the same instant again.
    write(store, Batch([rec(T0, "a3", a), rec(T0, "b2", b)]))
    got = store.reader().newest("", 10)
    assert sorted(messages(got)) == ["a1", "a2", "a3", "b1", "b2"]
    assert [m for m in messages(got) if m.startswith("a")] == ["a1", "a2", "a3"]


def test_many_sources_at_the_same_instants_in_one_session_keep_every_line_in_order(
    store: Store,
) -> None:
    # 80 sources: more than the 32 the low id bits tell apart, so their lines land on
    # each other's ids, within a batch and across batches of one writer session.
    sources = [key(pod=f"p{i:02d}") for i in range(80)]
    batches = [
        Batch([rec(T0 + (n // 3) * 1000, f"{s.pod} {n:03d}", s) for s in sources for n in rows])
        for rows in (range(0, 40), range(40, 90), range(90, 120))
    ]
    write(store, *batches)
    # The last instant again after a restart (a new writer: what it gave out is unknown).
    write(store, Batch([rec(T0 + 39 * 1000, f"{s.pod} late", s) for s in sources]))
    got = store.reader().newest("", 100_000)
    assert len(got) == 80 * 121
    for s in sources:
        mine = [m for m in messages(got) if m.startswith(f"{s.pod} ")]
        assert mine == [f"{s.pod} {n:03d}" for n in range(120)] + [f"{s.pod} late"]
    assert len({ln.id for ln in got}) == len(got)


def test_a_follower_gets_every_line_of_a_commit_whose_lines_were_moved(store: Store) -> None:
    web = key(pod="web-1")
    write(store, Batch([rec(T0, "first 0", web), rec(T0, "first 1", web)]))
    reader = store.reader()
    seq = reader.last_commit()
    # A new writer (after a restart) gives the same instant's ids again: the two
    # colliding lines are moved, the later line is not, and the commit holds all three.
    write(
        store,
        Batch([rec(T0, "again 0", web), rec(T0, "again 1", web), rec(T0 + SEC, "later", web)]),
    )
    got = reader.committed_after("", seq)
    assert messages(got.lines) == ["again 0", "again 1", "later"]


def test_text_search_newest_first_window(store: Store) -> None:
    lines = [
        rec(T0 + i * SEC, f"request {i} {'timeout' if i % 3 == 0 else 'ok'}") for i in range(30)
    ]
    write(store, Batch(lines))
    reader = store.reader()
    got = reader.newest("timeout", 4)
    assert messages(got) == [f"request {i} timeout" for i in (18, 21, 24, 27)]
    older = reader.window_before("timeout", got[0].id, 2)
    assert messages(older) == ["request 12 timeout", "request 15 timeout"]


def test_metadata_filters_use_sources_stream_and_level(store: Store) -> None:
    web, db = key(pod="web-1"), key(ns="data", pod="db-0", container="postgres")
    write(
        store,
        Batch(
            [rec(T0 + i, f"web {i}", web) for i in range(5)]
            + [
                rec(T0 + 10 + i, f"db {i}", db, stream=Stream.STDERR, level=Level.ERROR)
                for i in range(3)
            ]
        ),
    )
    reader = store.reader()
    assert messages(reader.newest("ns=data", 10)) == ["db 0", "db 1", "db 2"]
    assert messages(reader.newest("pod=web-*", 2)) == ["web 3", "web 4"]
    assert messages(reader.newest("stream=stderr level=error", 10)) == ["db 0", "db 1", "db 2"]
    assert messages(reader.newest("-ns=data", 10)) == [f"web {i}" for i in range(5)]


def test_one_query_written_two_ways_is_compiled_once_until_sources_change(
    store: Store,
) -> None:
    web = key(pod="web-1")
    write(store, Batch([rec(T0 + i, f"web {i} error", web) for i in range(3)]))
    reader = store.reader()
    typed = reader.compile("ns=shop  error")
    assert reader.compile(ParsedQuery.of("namespace=shop error")) is typed
    # since: counts back from now: compiled anew each time.
    assert reader.compile("since:1h") is not reader.compile("since:1h")
    # A new source may match the query: its source ids are compiled again.
    write(store, Batch([rec(T0 + 10, "db error", key(pod="db-0"))]))
    again = reader.compile("namespace=shop error")
    assert again is not typed and again.source_ids is not None
    assert len(again.source_ids) == 2


def test_facets_and_count_from_counts_and_from_text(store: Store) -> None:
    web, api = key(pod="web-1"), key(pod="api-1")
    write(
        store,
        Batch(
            [rec(T0 + i * SEC, "GET /health ok", web) for i in range(6)]
            + [rec(T0 + i * SEC, "GET /orders timeout", api, level=Level.ERROR) for i in range(4)]
        ),
    )
    reader = store.reader()
    assert reader.facets("", "pod") == ([("web-1", 6), ("api-1", 4)], True)
    assert reader.facets("", "level") == ([("none", 6), ("error", 4)], True)
    assert reader.facets("timeout", "pod") == ([("api-1", 4)], True)
    assert reader.count("") == (10, True)
    assert reader.count("pod=web-1") == (6, True)
    assert reader.count("timeout") == (4, True)


def test_histogram_buckets_totals_and_errors(store: Store) -> None:
    minute = 60 * SEC
    lines = [
        rec(T0 + m * minute + s * SEC, f"m{m}", level=Level.ERROR if s == 0 else 0)
        for m in range(10)
        for s in range(3)
    ]
    write(store, Batch(lines))
    reader = store.reader()
    start = T0 - T0 % minute
    coarse, exact = reader.histogram("", start, start + 10 * minute, 5)
    assert exact
    assert [b.total for b in coarse] == [6, 6, 6, 6, 6]
    assert [b.error for b in coarse] == [2, 2, 2, 2, 2]
    # Narrower than a minute per bucket: counted from the lines themselves.
    fine, _ = reader.histogram("", start, start + minute, 4)
    assert sum(b.total for b in fine) == 3
    text, exact = reader.histogram("m3", start, start + 10 * minute, 10)
    assert exact
    assert [b.total for b in text] == [0, 0, 0, 3, 0, 0, 0, 0, 0, 0]


def iso(ts_ns: int) -> str:
    """ts_ns as a query time (UTC, to the nanosecond)."""
    whole = datetime.fromtimestamp(ts_ns // SEC, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ts_ns % SEC:09d}Z"


def test_counts_take_in_lines_in_the_ten_microsecond_bucket_of_the_range_end(
    store: Store,
) -> None:
    # Ids hold time to 10 µs. Line 10, a line 4 µs after it and the until: bound 5 µs
    # after it share one bucket; so do the newest line and the histogram's end (its
    # timestamp + 1 ns). Rounding those ends down to their bucket's start used to drop
    # those lines from the view, the counts and the histogram.
    times = [T0 + 3 + i * 7 * SEC for i in range(30)]  # 3.5 minutes, not on a minute
    lines = [rec(t, f"line {i}") for i, t in enumerate(times)]
    lines.append(rec(times[10] + 4_000, "just before until"))
    write(store, Batch(lines))
    reader = store.reader()
    until = f"until:{iso(times[10] + 5_000)}"
    assert messages(reader.newest(until, 100))[-2:] == ["line 10", "just before until"]
    for query in (until, f"ns=shop {until}"):
        assert reader.count(query) == (12, True)
        assert len(reader.newest(query, 100)) == 12
        assert sum(n for _, n in reader.facets(query, "pod")[0]) == 12
    first, last = reader.time_range()
    # 3 buckets are a minute wide or more (per-minute counts), 50 are seconds wide.
    for width in (3, 50):
        everything, exact = reader.histogram("", first, last + 1, width)
        assert exact
        assert sum(b.total for b in everything) == 31
        bounded, _ = reader.histogram(until, first, last + 1, width)
        assert sum(b.total for b in bounded) == 12


def test_metadata_count_with_a_time_bound_is_exact_past_the_cap(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cap is for text queries; a query on sources, levels and streams is counted
    # exactly from the per-minute counts and the lines of the partial minutes at its
    # ends. A cap of 50 stands in for the real 200,000.
    monkeypatch.setattr("klogtui.store.aggregates._SCAN_CAP", 50)
    shop, data = key(ns="shop", pod="web-1"), key(ns="data", pod="db-1")
    write(
        store,
        Batch(
            [
                rec(
                    T0 + 5 + i * 2 * SEC,
                    f"line {i}",
                    shop if i % 3 else data,
                    level=i % 2 * Level.ERROR,
                )
                for i in range(400)  # 13 minutes and a bit
            ]
        ),
    )
    reader = store.reader()
    since_i, until_i = 37, 361  # both inside a minute, not on its start
    since = f"since:{iso(T0 + 5 + since_i * 2 * SEC)}"
    bounds = f"{since} until:{iso(T0 + 5 + until_i * 2 * SEC - 20_000)}"
    newer = [i for i in range(since_i, 400) if i % 3]
    assert reader.count(f"ns=shop {since}") == (len(newer), True)
    assert reader.facets(f"ns=shop {since}", "namespace") == ([("shop", len(newer))], True)
    between = [i for i in range(since_i, until_i) if i % 3]
    assert reader.count(f"ns=shop {bounds}") == (len(between), True)
    assert reader.facets(f"ns=shop {bounds}", "pod") == ([("web-1", len(between))], True)
    errors = sum(1 for i in between if i % 2)
    assert reader.facets(f"ns=shop {bounds}", "level") == (
        sorted([("error", errors), ("none", len(between) - errors)], key=lambda kv: -kv[1]),
        True,
    )
    assert reader.count(f"{bounds}") == (until_i - since_i, True)
    assert len(reader.newest(f"ns=shop {bounds}", 1000)) == len(between)


def test_source_metadata_updates_and_counts(store: Store) -> None:
    k = key(pod="web-1")
    write(
        store,
        Batch(
            [rec(T0, "x", k), rec(T0 + SEC, "y", k)],
            sources=[SourceInfo(k, node="node-a", labels={"app": "web"}, state="running")],
        ),
    )
    write(store, Batch(sources=[SourceInfo(k, state="deleted", reason="PodDeleted")]))
    (src,) = store.reader().sources()
    assert (src.node, src.labels, src.state, src.reason) == (
        "node-a",
        {"app": "web"},
        "deleted",
        "PodDeleted",
    )
    assert (src.lines, src.first_ts, src.last_ts) == (2, T0, T0 + SEC)
    assert messages(store.reader().newest("app=web", 5)) == ["x", "y"]


def test_checkpoints_commit_with_lines_and_can_be_deleted(store: Store) -> None:
    write(store, Batch([rec(T0, "x")], checkpoints={"file:1:2:ab": '{"offset": 10}'}))
    assert store.load_checkpoints("file:") == {"file:1:2:ab": '{"offset": 10}'}
    write(store, Batch(deleted_checkpoints=["file:1:2:ab"], checkpoints={"kube:u:c:0": "{}"}))
    assert store.load_checkpoints("file:") == {}
    assert store.load_checkpoints() == {"kube:u:c:0": "{}"}


def test_context_is_same_container_only(store: Store) -> None:
    a, b = key(pod="a"), key(pod="b")
    write(
        store, Batch([rec(T0 + i, f"{'ab'[i % 2]}{i}", a if i % 2 == 0 else b) for i in range(10)])
    )
    reader = store.reader()
    pivot = next(ln for ln in reader.newest("", 20) if ln.message == "a4")
    assert messages(reader.context(pivot.id, 1, 2)) == ["a2", "a4", "a6", "a8"]


def test_fts_index_stays_consistent(store: Store) -> None:
    write(store, Batch([rec(T0 + i, f"line {i} payload") for i in range(1000)]))
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO lines_fts(lines_fts) VALUES ('integrity-check')")
    conn.close()


def test_store_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "private" / "s.db"
    Store.open(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"hello, this is just text\n" * 10, "is not an SQLite database"),
        (None, "an SQLite database but not a klogtui store; klogtui leaves it alone"),
    ],
)
def test_foreign_files_are_refused_with_advice(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "other.db"
    if content is None:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes(x)")
        conn.commit()
        conn.close()
    else:
        path.write_bytes(content)
    with pytest.raises(StoreError) as err:
        Store.open(path)
    assert expected in str(err.value)
    assert "pass --db to use another file" in str(err.value)


def test_truncated_store_is_reported_not_crashed(tmp_path: Path, store: Store) -> None:
    write(store, Batch([rec(T0 + i, "x" * 200) for i in range(5000)]))
    data = store.path.read_bytes()
    broken = tmp_path / "broken.db"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreError) as err:
        Store.open(broken).reader().newest("", 10)
    assert "damaged" in str(err.value) or "not a klogtui store" in str(err.value)


def test_newer_schema_is_refused(store: Store) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer klogtui"):
        Store.open(store.path)


def test_the_walk_per_source_pages_as_a_scan_of_every_line_would(tmp_path: Path) -> None:
    """A query on a small share of the sources walks each one's index and merges the
    walks: its pages, newest, older and from the start, with and without a condition on
    the line, hold the lines a scan of every line would select, in order."""
    store = Store.open(tmp_path / "store.db")
    sources = [key(pod=f"web-{i}") for i in range(3)] + [key(pod=f"db-{i}") for i in range(17)]
    records = [
        # 20 µs apart: ids (10 µs buckets) follow the records' order.
        rec(T0 + i * 20_000, f"line {i}", sources[i % 20], level=Level.ERROR * (i % 3 == 0))
        for i in range(4_000)
    ]
    write(store, Batch(records, sources=[SourceInfo(s) for s in sources]))
    reader = store.reader()
    try:
        for text, wanted in [
            ("pod=web-*", lambda r: r.source.pod.startswith("web-")),
            ("pod=web-* level=error", lambda r: r.source.pod.startswith("web-") and r.level),
            ("pod=web-1", lambda r: r.source.pod == "web-1"),
        ]:
            want = [r.message for r in records if wanted(r)]
            newest = reader.newest(text, 50)
            older = reader.window_before(text, newest[0].id, 50)
            first = reader.window_after(text, None, 50)
            assert [ln.message for ln in newest] == want[-50:], text
            assert [ln.message for ln in older] == want[-100:-50], text
            assert [ln.message for ln in first] == want[:50], text
    finally:
        reader.close()
