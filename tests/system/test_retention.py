"""Retention by age and by size: oldest lines go, the FTS index and counts stay exact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from klogtui.model import Batch
from klogtui.store import Retention, Store, parse_size
from klogtui.store.schema import connect
from tests.helpers_faults import collect_argv, collect_proc, committed_lines, tmpfs
from tests.helpers_files import Container, seq_of, ts_text
from tests.store_helpers import SEC, key, rec
from tests.waiting import wait_for

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


# -- `klogtui collect --max-size` as a user runs it, on a large and on a small disk ------

_HISTORY_T0 = time.time_ns() - 86_400 * SEC  # a day ago: older than anything live
_PAD = "payload text making the line about as long as a real one"


def _line(ts: int, seq: int) -> bytes:
    return f"{ts_text(ts)} stdout F seq={seq} {_PAD}\n".encode()


def _history(log_dir: Path, n: int, pods: int = 10) -> None:
    """n numbered lines spread over `pods` containers, interleaved in time 1 ms apart."""
    for p in range(pods):
        c = Container(log_dir, namespace="hist", pod=f"hist{p}", uid=f"uid{p}")
        t0 = _HISTORY_T0 + p * 1_000_000
        c.append(b"".join(_line(t0 + i * pods * 1_000_000, i) for i in range(n // pods)))


@pytest.fixture(params=["large-disk", "small-disk"])
def store_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Where the store lives: tmp_path, or a 40 MB tmpfs the test mounts (root only)."""
    if request.param == "large-disk":
        yield tmp_path / "store"
        return
    if os.geteuid() != 0:
        pytest.skip("the small-disk case mounts a tmpfs, which needs root")
    with tmpfs(tmp_path / "small-disk", "40m") as mnt:
        yield mnt


def _kept(db: Path) -> tuple[dict[str, list[int]], list[int]]:
    """Stored seqs per pod, and every stored line's ts in id order."""
    conn = connect(db, create=False, readonly=True)
    try:
        per_pod: dict[str, list[int]] = {}
        stamps = []
        for pod, msg, ts in conn.execute(
            "SELECT s.pod, klogtui_text(l.message), l.ts FROM lines l "
            "JOIN sources s ON s.id = l.source_id ORDER BY l.id"
        ):
            per_pod.setdefault(pod, []).append(seq_of(msg))
            stamps.append(ts)
        return per_pod, stamps
    finally:
        conn.close()


def _dropped_only_the_oldest(db: Path, pods: int, per_pod: int) -> int:
    """History lines kept: each pod's newest ones, none after a gap (returns the count)."""
    per_pod_kept, stamps = _kept(db)
    kept = 0
    for p in range(pods):
        seqs = per_pod_kept.get(f"hist{p}", [])
        assert seqs == list(range(per_pod - len(seqs), per_pod)), f"hist{p} kept {len(seqs)}"
        kept += len(seqs)
    assert stamps == sorted(stamps)
    _integrity(Store.open(db))
    return kept


def test_max_size_below_the_store_keeps_the_newest_and_says_what_it_dropped(
    tmp_path: Path, store_dir: Path
) -> None:
    """The issue's case: a store past --max-size, then `collect --max-size` with live
    lines. It dropped every line, live ones included, and said nothing."""
    logs = tmp_path / "logs"
    _history(logs, 100_000)
    db = store_dir / "s.db"
    done = subprocess.run(
        [*collect_argv(logs, db), "--once"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    limit = 4_000_000
    # Well past the limit (8.0 MB since the text index is keyed by bucket and merged
    # into one segment after the backfill).
    assert db.stat().st_size > 1.8 * limit
    live = Container(logs, namespace="live", pod="live", uid="uid-live")
    proc = collect_proc(logs, db, "--max-size", "4MB")
    err = ""
    try:
        written = 0
        for _ in range(40):  # live lines while retention works, and after
            live.append(b"".join(_line(time.time_ns(), written + i) for i in range(50)))
            written += 50
            time.sleep(0.05)  # a live writer's pace, not a wait for a condition
        wait_for(lambda: committed_lines(db) < 60_000, timeout=120, what="retention ran")
        wait_for(
            lambda: len(_kept(db)[0].get("live", [])) == written,
            timeout=120,
            what="live lines stored",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 0, err
    assert _kept(db)[0]["live"] == list(range(written))  # every live line, once
    kept = _dropped_only_the_oldest(db, 10, 10_000)
    assert 10_000 < kept < 60_000, err
    assert db.stat().st_size <= limit, err
    said = [ln for ln in err.splitlines() if "retention: dropped the" in ln]
    assert said and "oldest lines" in said[0] and "under 4.0 MB" in said[0], err
    assert sum(int(ln.split("dropped the ")[1].split()[0].replace(",", "")) for ln in said) == (
        100_000 - kept
    )


def test_once_with_a_small_max_size_ends_under_it_and_never_wedges(
    tmp_path: Path, store_dir: Path
) -> None:
    """`collect --once --max-size 5MB` over a backlog that takes ~54 MB unlimited: it
    kept 295,000 of 300,000 lines and peaked at 49 MB; on a small disk it wedged."""
    logs = tmp_path / "logs"
    _history(logs, 300_000)
    db = store_dir / "s.db"
    done = subprocess.run(
        [*collect_argv(logs, db), "--once", "--max-size", "5MB"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert db.stat().st_size <= 5_000_000
    kept = _dropped_only_the_oldest(db, 10, 30_000)
    # About 10,000 lines of this shape fit in 5 MB beside the commit log. Retention trims
    # to 90% once the file passes 95%, so where the last trim lands depends on commit
    # timing (9,882 to 10,458 seen over a dozen runs): 8,000 allows for that and still
    # catches a store emptied far below its cap.
    assert kept > 8_000
    assert "retention: dropped the" in done.stderr and "full" not in done.stderr, done.stderr
