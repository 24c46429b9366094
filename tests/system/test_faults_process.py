"""Faults around the `klogtui collect` process: SIGKILL during the backfill of rotated
and gzipped history, the store locked by another process, the disk filling up under
the store. A real subprocess, real files, a real store; every line once afterwards.
"""

from __future__ import annotations

import gzip
import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from klogtui.collect.runner import CollectOptions, start_collection
from klogtui.store import Store
from klogtui.store.schema import connect
from tests.helpers_faults import (
    Tally,
    collect_argv,
    collect_proc,
    committed_lines,
    lock_store,
    stamp,
    start_writer,
    tally,
    tmpfs,
    written,
)
from tests.helpers_files import Container, lines, seq_of, stored_seqs
from tests.waiting import wait_for


def _checkpoints(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT key, value FROM checkpoints").fetchall())
    finally:
        conn.close()


class _Stderr:
    """A process's stderr lines, read as they come."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self._stream:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def text(self) -> str:
        self._thread.join(10)
        return "\n".join(self.lines)


def _final_once(log_dir: Path, db: Path) -> None:
    done = collect_proc(log_dir, db, "--once")
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err.decode()


def _check(db: Path, counts: dict[str, int], label: str) -> Tally:
    result = tally(Store.open(db), counts)
    print(f"{label}: {result}")
    assert (result.duplicated, result.lost, result.out_of_order) == (0, 0, 0), result
    assert result.stored == result.written
    return result


# -- SIGKILL during the backfill of rotated history --------------------------------------

KILL_RUNS = [
    pytest.param(4, 5, 4_000, 8, id="ci"),
    pytest.param(6, 12, 10_000, 40, marks=pytest.mark.chaos, id="long"),
]


@pytest.mark.parametrize(("pods", "rotations", "per_file", "kills"), KILL_RUNS)
def test_kill_9_during_backfill_of_gzipped_rotations(
    tmp_path: Path, pods: int, rotations: int, per_file: int, kills: int
) -> None:
    """Each pod keeps gzipped rotations, a plain rotation and a live file. The
    collector is killed at random moments of its backfill; between kills the files
    rotate on: the plain rotation it was reading is gzipped, the live file renamed."""
    rng = random.Random(7)
    log_dir = tmp_path / "logs"
    db = tmp_path / "store.db"
    cs = [Container(log_dir, namespace="faults", pod=f"pod{i}", uid=f"uid{i}") for i in range(pods)]
    nxt = {c.pod: 0 for c in cs}

    def more(c: Container, n: int) -> None:
        c.append(lines(range(nxt[c.pod], nxt[c.pod] + n)))
        nxt[c.pod] += n

    for c in cs:
        c.dir.mkdir(parents=True)
        for r in range(rotations):
            c.path(0, stamp(r), gz=True).write_bytes(
                gzip.compress(lines(range(nxt[c.pod], nxt[c.pod] + per_file)), compresslevel=1)
            )
            nxt[c.pod] += per_file
        more(c, per_file)
        c.rotate(stamp(rotations))
        more(c, per_file)
    newest = {c.pod: rotations for c in cs}  # each pod's plain rotation
    n_rot = rotations + 1
    mid_backfill = 0
    total = sum(nxt.values())
    for _ in range(kills):
        proc = collect_proc(log_dir, db)
        # Kill at a random moment soon after this run's first commit: a slow start on
        # a loaded machine does not turn the kill into one before the backfill, and a
        # fast collector is still caught inside it (a run's backlog takes well under a
        # second here).
        before = committed_lines(db)
        deadline = time.monotonic() + 30
        while committed_lines(db) == before and proc.poll() is None:
            assert time.monotonic() < deadline, "the collector committed nothing"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = committed_lines(db)
        mid_backfill += 0 < got < total
        # While it is down, history moves: the newest rotation is gzipped (perhaps
        # half read), the live file rotates, new lines arrive.
        for c in cs:
            if rng.random() < 0.5:
                c.compress(stamp(newest[c.pod]))
                c.rotate(stamp(n_rot))
                newest[c.pod] = n_rot
                n_rot += 1
            more(c, rng.randint(per_file // 2, per_file))
        total = sum(nxt.values())
    _final_once(log_dir, db)
    label = f"{kills} kills ({mid_backfill} mid-backfill)"
    result = _check(db, {c.pod: nxt[c.pod] for c in cs}, label)
    assert mid_backfill >= kills // 2, f"only {mid_backfill} kills landed mid-backfill"
    assert result.written == total


# -- the store locked by another process -------------------------------------------------

LOCKS = [
    pytest.param(5.0, id="5s", marks=pytest.mark.slow),
    pytest.param(30.0, id="30s", marks=pytest.mark.chaos),
]
# `klogtui collect` with the store's busy timeout cut from 10 s to 2 s, so a lock that
# outlasts it (the writer has to retry) takes seconds to test, not 12.
_SHORT_BUSY_TIMEOUT = (
    "import sys, klogtui.store.schema as schema; schema.BUSY_TIMEOUT_MS = 2_000; "
    "from klogtui.__main__ import run; sys.exit(run())"
)


@pytest.mark.parametrize("hold_s", LOCKS)
def test_store_locked_by_another_process_while_collecting(tmp_path: Path, hold_s: float) -> None:
    """Another process holds the store's write lock for longer than the busy timeout
    while lines keep coming and rotating. Nothing is committed meanwhile (lines and
    checkpoints stay as they were), the collector keeps running and says so once;
    after the lock is gone every line is stored once."""
    log_dir = tmp_path / "logs"
    (log_dir / "pods").mkdir(parents=True)
    db = tmp_path / "store.db"
    writer = start_writer(
        log_dir, "gzip", rate=2_000, seconds=hold_s + 4, rotate_lines=3_000, containers=2
    )
    python, _, _, *args = collect_argv(log_dir, db)  # python -m klogtui collect ...
    proc = subprocess.Popen(
        [python, "-c", _SHORT_BUSY_TIMEOUT, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    err = _Stderr(proc)
    try:
        wait_for(lambda: committed_lines(db) > 1000, 20, "collecting")
        locker = lock_store(db, hold_s)
        time.sleep(0.5)  # a commit that began before the lock is done now
        held = (committed_lines(db), _checkpoints(db))
        deadline = time.monotonic() + hold_s - 1.5
        while time.monotonic() < deadline:
            assert (committed_lines(db), _checkpoints(db)) == held, "committed through the lock"
            assert proc.poll() is None
            time.sleep(0.5)
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "free"
        assert locker.wait(10) == 0
        assert writer.wait(60) == 0
        w = written(log_dir)
        wait_for(lambda: committed_lines(db) >= w.total, 60, "caught up after the lock")
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        writer.kill()
    assert proc.returncode == 0, err.text()
    said = [ln for ln in err.lines if ln.startswith("klogtui:")]
    assert said == ["klogtui: store: store write failed: database is locked; retrying"]
    _check(db, w.pods, f"store locked {hold_s:.0f}s")


# -- disk full -----------------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs: a disk that fills up (needs root and mount permission)."""
    with tmpfs(tmp_path / "small", "3m") as mnt:
        yield mnt


def _grow(mnt: Path) -> None:
    """Space comes back."""
    subprocess.run(["mount", "-o", "remount,size=256m", str(mnt)], check=True)


def _offset_matches_stored(db: Path, c: Container) -> int:
    """The committed offset of c's file is exactly the end of the committed lines."""
    n = committed_lines(db)
    points = [v for k, v in _checkpoints(db).items() if k.startswith("file:")]
    assert len(points) == 1
    offset = json.loads(points[0])["offset"]
    assert offset == len(lines(range(n))), (offset, n)
    return n


@pytest.mark.parametrize("then", ["space-returns", "kill-9-then-space"])
def test_disk_full_mid_batch(tmp_path: Path, small_fs: Path, then: str) -> None:
    """The store's file system fills up while `klogtui collect` ingests. Each failed
    transaction rolls back with its offsets: what is committed is exactly the lines
    the committed offset covers. The collector waits and retries; when space comes
    back (or after a kill -9 and a restart) every line is stored once."""
    c = Container(tmp_path / "logs")
    n = 100_000  # far more than 3 MiB of store (40,000 lines take 2.9 MB since schema 7)
    c.append(lines(range(n)))
    db = small_fs / "store.db"
    proc = collect_proc(c.log_dir, db)
    err = _Stderr(proc)
    try:
        full = "klogtui: store: store write failed: database or disk is full; retrying"
        wait_for(lambda: full in err.lines, 30, "disk full")
        stuck = _offset_matches_stored(db, c)
        assert 0 < stuck < n
        time.sleep(1.5)  # retries fail the same way
        assert _offset_matches_stored(db, c) == stuck and proc.poll() is None
        if then == "kill-9-then-space":
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            _grow(small_fs)
            _final_once(c.log_dir, db)
        else:
            _grow(small_fs)
            wait_for(lambda: committed_lines(db) == n, 30, "every line after space returned")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, err.text()
            assert [ln for ln in err.lines if ln.startswith("klogtui:")] == [full]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = [
        seq_of(m)
        for (m,) in connect(db, create=False, readonly=True).execute(
            "SELECT klogtui_text(message) FROM lines ORDER BY id"
        )
    ]
    assert got == list(range(n))
    _offset_matches_stored(db, c)


def test_stop_says_when_it_could_not_commit(tmp_path: Path) -> None:
    """Stopped while another process holds the store: stop() says that what was read
    is not stored (nor its offsets), and the next run stores it once."""
    c = Container(tmp_path / "logs")
    c.append(lines(range(100)))
    db = tmp_path / "store.db"
    store = Store.open(db)
    running = start_collection(CollectOptions(log_dir=c.log_dir, db=db), store)
    wait_for(lambda: committed_lines(db) == 100, 10, "first lines")
    locker = lock_store(db, 4)
    try:
        c.append(lines(range(100, 200)))
        time.sleep(0.5)
        assert running.stop(timeout=1) is False
        assert running.stop() is False  # asked again, same answer
        assert committed_lines(db) == 100
    finally:
        locker.wait(30)
    # The closed writer's thread commits once the lock is gone (in `klogtui collect`
    # the process has exited by then); lines and offsets together, so nothing doubles.
    wait_for(lambda: committed_lines(db) == 200, 15, "the late commit")
    _final_once(c.log_dir, db)
    assert stored_seqs(Store.open(db)) == list(range(200))


@pytest.mark.chaos
def test_collect_stopped_while_the_store_is_locked_exits_1(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(100)))
    db = tmp_path / "store.db"
    proc = collect_proc(c.log_dir, db)
    try:
        wait_for(lambda: committed_lines(db) == 100, 20, "first lines")
        locker = lock_store(db, 75)  # longer than the flush and close timeouts (30 s each)
        c.append(lines(range(100, 200)))
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert err.decode().splitlines()[-1] == (
        "klogtui: store: the last lines read could not be committed in time; "
        "the next run reads them again"
    )
    locker.wait(90)
    _final_once(c.log_dir, db)
    assert stored_seqs(Store.open(db)) == list(range(200))
