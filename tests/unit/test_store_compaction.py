"""The text index merged into one segment after a backfill (store/index_compaction.py):
smaller and quicker to query, every line still found."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from klogtui.model import Batch
from klogtui.store import Store
from klogtui.store.writer import Writer
from tests.store_helpers import T0, assert_index_exact, key, newest_messages, rec

_BACKFILL = 110_000  # past the writer's threshold (a backfill's worth of lines)
_PER_TX = 5_000
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo")


def _segments(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(DISTINCT segid) FROM lines_fts_idx").fetchone()[0])
    finally:
        conn.close()


def _backfill(writer: Writer, lines: int, first: int = 0) -> None:
    """`lines` lines, a transaction of _PER_TX at a time (each leaves a segment);
    line i says word i % 5 and its own number."""
    sources = [key(pod=f"web-{n}") for n in range(4)]
    for start in range(first, first + lines, _PER_TX):
        records = [
            rec(T0 + i * 1_000_000, f"{_WORDS[i % 5]} request n{i}", sources[i % 4])
            for i in range(start, min(first + lines, start + _PER_TX))
        ]
        writer.submit(Batch(records=records))
        assert writer.flush(60)


def test_collect_once_leaves_the_index_of_a_backfill_in_one_segment(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    writer = store.start_writer(compact_before_close=True)
    try:
        _backfill(writer, _BACKFILL)
        assert _segments(store.path) > 1  # what the transactions left
    finally:
        writer.close(120)
    assert _segments(store.path) == 1
    assert_index_exact(store.path)
    assert newest_messages(store, "n12345", 3) == ["alpha request n12345"]
    assert newest_messages(store, "echo", 3) == [
        f"echo request n{i}" for i in (109_989, 109_994, 109_999)
    ]


def test_a_running_writer_compacts_once_the_backfill_is_over(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    writer = store.start_writer()
    try:
        _backfill(writer, _BACKFILL)
        # Nothing more queued: the backfill is over, the writer merges in steps.
        deadline = time.monotonic() + 120
        while _segments(store.path) > 1:
            assert time.monotonic() < deadline, "the index was not compacted"
            time.sleep(0.05)
        _backfill(writer, 10, first=_BACKFILL)  # live lines after it
        assert newest_messages(store, "n110007", 3) == ["charlie request n110007"]
    finally:
        writer.close()
    assert_index_exact(store.path)


def test_a_writer_that_took_a_few_lines_leaves_the_index_as_it_is(tmp_path: Path) -> None:
    # A restart that catches up a little must not rewrite a big store's whole index.
    store = Store.open(tmp_path / "s.db")
    writer = store.start_writer(compact_before_close=True)
    try:
        for n in range(6):
            _backfill(writer, 100, first=n * 100)
    finally:
        writer.close()
    assert _segments(store.path) > 1
    assert newest_messages(store, "n555", 3) == ["alpha request n555"]
