"""Retention by age and by size: oldest lines go, the FTS index and counts stay exact."""

from __future__ import annotations

import sqlite3
import time

import pytest

from klogtui.model import Batch
from klogtui.store import Retention, Store, parse_size
from tests.store_helpers import SEC, key, rec

MIN = 60 * SEC


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "retention did not catch up"
        time.sleep(0.05)


def _integrity(store: Store) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO lines_fts(lines_fts) VALUES ('integrity-check')")
    conn.close()


def test_age_retention_drops_old_lines_only(store: Store) -> None:
    now = time.time_ns()
    old = [rec(now - 3 * 3600 * SEC + i * SEC // 2, f"old payload {i}") for i in range(12_000)]
    new = [rec(now - 10 * MIN + i * SEC, f"new payload {i}", key(pod="web-2")) for i in range(300)]
    writer = store.start_writer(retention=Retention(max_age_ns=3600 * SEC, batch=2000))
    try:
        writer.submit(Batch(old + new))
        writer.flush()
        reader = store.reader()
        _wait(lambda: reader.count("")[0] == 300)
        # Ingest goes on while retention works.
        writer.submit(Batch([rec(now, "fresh payload")]))
        writer.flush()
    finally:
        writer.close()
    reader = store.reader()
    assert reader.count("payload") == (301, True)
    assert reader.newest("old", 10) == []
    assert reader.facets("", "pod") == ([("web-2", 300), ("web-1", 1)], True)
    by_pod = {s.pod: s for s in reader.sources()}
    assert by_pod["web-1"].lines == 1 and by_pod["web-1"].first_ts == now
    _integrity(store)


def test_size_retention_keeps_the_store_bounded(store: Store) -> None:
    writer = store.start_writer(retention=Retention(max_bytes=parse_size("3MB"), batch=2000))
    t = time.time_ns() - 3600 * SEC
    try:
        for b in range(10):
            writer.submit(
                Batch(
                    [
                        rec(t + (b * 5000 + i) * 1000, f"line {b} {i} " + "x" * 150)
                        for i in range(5000)
                    ]
                )
            )
            writer.flush()
        reader = store.reader()
        _wait(lambda: reader.stats().db_bytes < 8_000_000 and reader.count("")[0] < 50_000)
    finally:
        writer.close()
    lines = store.reader().newest("", 1)
    assert lines and lines[0].message.startswith("line 9 4999")  # the newest survive
    _integrity(store)


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GB", 2 * 10**9), ("500M", 500 * 10**6), ("1.5GiB", int(1.5 * 2**30)), ("1048576", 2**20)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
