"""Store faults: disk full, a lock held by another process, a long reader, a damaged file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from klogtui.errors import BrokenStoreError, StoreError
from klogtui.model import Batch
from klogtui.store import Store
from klogtui.store.recovery import recover
from klogtui.store.schema import WAL_LIMIT_BYTES
from tests.helpers_faults import lock_store
from tests.store_helpers import SEC, T0, rec, write


def _stored(store: Store) -> list[str]:
    conn = sqlite3.connect(store.path)
    try:
        return [r[0] for r in conn.execute("SELECT message FROM lines ORDER BY id")]
    finally:
        conn.close()


def test_disk_full_mid_batch_advances_nothing_then_recovers(store: Store) -> None:
    write(store, Batch([rec(T0, "before")], checkpoints={"file:a": "1"}))
    writer = store.start_writer()
    try:
        # A full disk, as SQLite sees it: no page may be added to the file.
        pages = writer._conn.execute("PRAGMA page_count").fetchone()[0]
        writer._conn.execute(f"PRAGMA max_page_count={pages}")
        writer.submit(
            Batch(
                [rec(T0 + i, "big " + "x" * 2000) for i in range(1, 500)],
                checkpoints={"file:a": "2"},
            )
        )
        deadline = time.monotonic() + 10
        while writer.error is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert "full" in writer.error.message
        assert _stored(store) == ["before"]
        assert store.load_checkpoints() == {"file:a": "1"}
        writer._conn.execute("PRAGMA max_page_count=1073741823")  # space is back
        assert writer.flush(30)
    finally:
        writer.close()
    assert _stored(store)[0] == "before" and len(_stored(store)) == 500
    assert store.load_checkpoints() == {"file:a": "2"}


@pytest.mark.slow
def test_store_locked_by_another_process_waits_and_loses_nothing(store: Store) -> None:
    hold_s = 12  # longer than the busy timeout (10 s), so the writer has to retry
    locker = lock_store(store.path, hold_s)
    writer = store.start_writer()
    try:
        writer.submit(
            Batch([rec(T0 + i, f"line {i}") for i in range(1000)], checkpoints={"file:x": "1000"})
        )
        assert writer.flush(hold_s + 30)
    finally:
        writer.close()
        locker.wait(30)
    assert _stored(store) == [f"line {i}" for i in range(1000)]
    assert store.load_checkpoints() == {"file:x": "1000"}


def test_wal_is_bounded_after_a_long_reader(store: Store) -> None:
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM lines").fetchone()  # holds its snapshot
    writer = store.start_writer()
    try:
        for b in range(30):
            writer.submit(Batch([rec(T0 + (b * 2000 + i) * SEC, "y" * 1000) for i in range(2000)]))
        writer.flush()
        wal = Path(str(store.path) + "-wal")
        assert wal.stat().st_size > WAL_LIMIT_BYTES  # the reader pinned the WAL
        reader.execute("COMMIT")
        reader.close()
        writer.submit(Batch([rec(T0 + 10**6 * SEC + i, "after") for i in range(3000)]))
        writer.flush()
        writer.submit(Batch([rec(T0 + 2 * 10**6 * SEC + i, "after") for i in range(3000)]))
        writer.flush()
        assert wal.stat().st_size <= WAL_LIMIT_BYTES
    finally:
        writer.close()


def test_damaged_store_is_recovered_with_every_readable_line(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    write(store, Batch([rec(T0 + i * SEC, f"line {i:05d} " + "z" * 300) for i in range(20_000)]))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # Scribble over a stretch of pages in the middle of the file.
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(64 * 1024))
    with pytest.raises(BrokenStoreError):
        reader = Store.open(path).reader()
        reader.count("line")
        reader.facets("line", "pod")
        # A damaged page surfaces when it is read: read everything.
        cursor = None
        while page := reader.window_after("", cursor, 5000):
            cursor = page[-1].id
        raise AssertionError("damage went unnoticed")
    salvage = recover(path)
    assert salvage.moved_to.exists() and not salvage.complete
    recovered = Store.open(path).reader()
    got = [ln.message[:10] for ln in recovered.oldest("", 30_000)]
    assert 10_000 < len(got) < 20_000
    assert got == sorted(got) and len(set(got)) == len(got)  # in order, no duplicates
    assert got[0] == "line 00000" and got[-1] == "line 19999"


def _count_in_another_process(db: Path) -> str:
    """The number of lines another process sees committed in the store at db."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; print(sqlite3.connect({str(db)!r})"
            ".execute('SELECT count(*) FROM lines').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_opening_a_reader_beside_the_writer_keeps_other_processes_in_sight(store: Store) -> None:
    """Closing any descriptor of the file drops the process's locks: never do it."""
    writer = store.start_writer()
    try:
        writer.submit(Batch([rec(T0, "one")]))
        writer.flush()
        store.reader().close()
        Store.open(store.path)
        writer.submit(Batch([rec(T0 + SEC, "two")]))
        writer.flush()
        count = _count_in_another_process(store.path)
        writer.submit(Batch([rec(T0 + 2 * SEC, "three")]))
        writer.flush()
        assert Path(str(store.path) + "-wal").exists()
        count3 = _count_in_another_process(store.path)
    finally:
        writer.close()
    assert (count, count3) == ("2", "3")


def test_a_writer_bug_stops_it_visibly_instead_of_hanging_producers(store: Store) -> None:
    writer = store.start_writer()
    try:
        bad = rec(T0, "x")._replace(ts="not a timestamp")
        writer.submit(Batch([bad]))
        assert not writer.flush(10)  # says nothing was committed, instead of hanging
        assert writer.failure is not None
        with pytest.raises(StoreError, match="writer stopped"):
            writer.submit(Batch([rec(T0, "after")]))
    finally:
        writer.close()
