"""`klogtui collect` as a user runs it: a real process, real files, a real store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from klogtui.collect.runner import CollectOptions, start_collection
from klogtui.errors import CollectorError
from klogtui.store import CommitInfo, Store
from tests.helpers_files import Container, lines, sources, stored_seqs, wait_for


def _collect(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", "collect", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_once_ingests_everything_then_exits_0(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(1000)))
    c.dir.joinpath("1.log.20261119-070000.gz").write_bytes(b"broken")
    db = tmp_path / "store.db"
    done = _collect("--log-dir", str(c.log_dir), "--db", str(db), "--once", "--progress")
    assert done.returncode == 0, done.stderr
    assert stored_seqs(Store.open(db)) == list(range(1000))
    err = done.stderr.splitlines()
    assert err[0].endswith(
        "1.log.20261119-070000.gz: cannot read: Not a gzipped file (b'br'); skipped"
    )
    assert "caught up: 2 files, 1,000 lines" in err[-1]
    # Run again: nothing new, nothing doubled.
    assert _collect("--log-dir", str(c.log_dir), "--db", str(db), "--once").returncode == 0
    c.append(lines(range(1000, 1005)))
    assert _collect("--log-dir", str(c.log_dir), "--db", str(db), "--once").returncode == 0
    assert stored_seqs(Store.open(db)) == list(range(1005))


def test_sigterm_and_sigint_flush_and_exit_0(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    db = tmp_path / "store.db"
    n = 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        c.append(lines(range(n, n + 10)))
        proc = subprocess.Popen(
            [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(c.log_dir)]
            + ["--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            seen = n + 10
            wait_for(
                lambda: db.exists() and len(stored_seqs(Store.open(db))) == seen,  # noqa: B023
                timeout=20,
                what="collector running",
            )
            c.append(lines(range(n + 10, n + 20)))
            time.sleep(0.5)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        n += 20
        assert stored_seqs(Store.open(db)) == list(range(n))


def test_no_kubelet_logs_is_one_line_with_advice(tmp_path: Path) -> None:
    done = _collect("--log-dir", str(tmp_path), "--db", str(tmp_path / "store.db"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "--demo" in done.stderr and "--kubeconfig" in done.stderr
    assert str(tmp_path) in done.stderr


def test_demo_once_stores_the_synthetic_cluster_and_cleans_up(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = _collect("--demo", "--once", "--db", str(db), env={"TMPDIR": str(temp)})
    assert done.returncode == 0, done.stderr
    srcs = sources(Store.open(db))
    assert len({(k.namespace, k.pod) for k in srcs}) >= 12
    assert {s.node for s in srcs.values()} == {"demo-node-1"}
    assert list(temp.iterdir()) == []  # the demo's files are removed at exit


def test_start_collection_for_the_app(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(5)))
    db = tmp_path / "store.db"
    store = Store.open(db)
    commits: list[CommitInfo] = []
    running = start_collection(CollectOptions(log_dir=c.log_dir, db=db), store, commits.append)
    try:
        wait_for(running.caught_up, what="caught up")
        c.append(lines(range(5, 8)))
        wait_for(lambda: sum(ci.lines for ci in commits) == 8, what="commits")
        assert running.stats.snapshot().lines_total == 8
        assert running.progress() == (1, 1) and running.failure() is None
    finally:
        running.stop()
    running.stop()  # a second stop is harmless
    assert stored_seqs(store) == list(range(8))


def test_start_collection_demo_runs_live_and_cleans_up(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = Store.open(db)
    opts = CollectOptions(log_dir=None, db=db, demo=True, demo_prefill_minutes=0.5)
    running = start_collection(opts, store)
    demo_dir = running.log_dir
    try:
        assert demo_dir is not None and (demo_dir / "pods").is_dir()
        wait_for(running.caught_up, what="caught up")
        first = running.stats.snapshot().lines_total
        wait_for(lambda: running.stats.snapshot().lines_total > first, what="live lines")
    finally:
        running.stop()
    assert not demo_dir.exists()


def test_start_collection_without_kubelet_logs_starts_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    before = set(threading.enumerate())
    with pytest.raises(CollectorError, match="--demo"):
        start_collection(CollectOptions(log_dir=tmp_path, db=tmp_path / "store.db"), store)
    assert set(threading.enumerate()) <= before  # no writer or collector thread left
