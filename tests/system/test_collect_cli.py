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
from tests.helpers_files import Container, lines, sources, stored_seqs, ts_text
from tests.waiting import wait_for


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


def _line_at(ts_ns: int, seq: int) -> bytes:
    return f"{ts_text(ts_ns)} stdout F seq={seq}\n".encode()


def _three_namespaces(log_dir: Path, now: int) -> None:
    """shop/web-1: a rotation and a broken .gz both last written 2 h ago, a live file
    with 2-h-old and 1-min-old lines; infra and kube-system: fresh lines and a broken
    .gz each. Reading any broken .gz would be reported."""
    two_h, one_min = now - 7200 * 10**9, now - 60 * 10**9
    web = Container(log_dir, namespace="shop", pod="web-1", uid="u1")
    web.append(b"".join(_line_at(two_h + s, s) for s in range(10)))
    rotated = web.rotate("20261119-070000")
    broken = web.dir / "0.log.20261119-060000.gz"
    broken.write_bytes(b"not gzip")
    for old in (rotated, broken):
        os.utime(old, ns=(two_h + 10, two_h + 10))
    web.append(b"".join(_line_at(two_h + 100 + s, s) for s in range(10, 20)))
    web.append(b"".join(_line_at(one_min + s, s) for s in range(20, 30)))
    for ns in ("infra", "kube-system"):
        other = Container(log_dir, namespace=ns, pod="p", uid=f"u-{ns}")
        other.append(b"".join(_line_at(one_min + s, s) for s in range(100, 110)))
        other.dir.joinpath("0.log.20261119-070000.gz").write_bytes(b"not gzip")


def test_namespace_and_since_apply_to_local_files(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    _three_namespaces(log_dir, time.time_ns())
    db = tmp_path / "store.db"
    done = _collect(
        "--log-dir", str(log_dir), "--db", str(db), "--once", "-n", "shop", "--since", "5m"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no broken .gz was opened: other namespaces, older than 5m
    store = Store.open(db)
    assert stored_seqs(store) == list(range(20, 30))
    assert {k.namespace for k in sources(store)} == {"shop"}


def test_namespace_alone_reads_all_of_that_namespace(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    _three_namespaces(log_dir, time.time_ns())
    db = tmp_path / "store.db"
    done = _collect("--log-dir", str(log_dir), "--db", str(db), "--once", "-n", "infra")
    assert done.returncode == 0, done.stderr
    assert "infra_p_u-infra/app/0.log.20261119-070000.gz: cannot read" in done.stderr
    assert "shop_" not in done.stderr and "kube-system_" not in done.stderr
    assert stored_seqs(Store.open(db)) == list(range(100, 110))


@pytest.mark.parametrize("command", [["collect", "--once"], []], ids=["collect", "tui"])
def test_a_label_selector_on_local_files_is_refused(tmp_path: Path, command: list[str]) -> None:
    log_dir = tmp_path / "logs"
    _three_namespaces(log_dir, time.time_ns())
    db = tmp_path / "store.db"
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", *command]
        + ["--log-dir", str(log_dir), "--db", str(db), "-l", "app=web"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "klogtui: -l/--selector needs pod labels, which local log files do not carry: "
        "use -n NAMESPACE, or --kubeconfig to read the cluster's API\n"
    )
    assert not db.exists()


def test_the_app_collects_only_the_namespace_and_time_asked_for(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    _three_namespaces(log_dir, time.time_ns())
    db = tmp_path / "store.db"
    store = Store.open(db)
    opts = CollectOptions(log_dir=log_dir, db=db, namespaces=("shop",), since_s=300)
    running = start_collection(opts, store)
    try:
        wait_for(running.caught_up, what="caught up")
    finally:
        running.stop()
    assert stored_seqs(store) == list(range(20, 30))
    assert running.stats.snapshot().errors == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-A"], "-A/--all-namespaces applies to remote mode only (--kubeconfig)"),
        (["--context", "prod"], "--context applies to remote mode only (--kubeconfig)"),
        (["--max-streams", "5"], "--max-streams applies to remote mode only (--kubeconfig)"),
        (["--demo", "-n", "shop"], "-n/--namespace does not apply to --demo"),
        (["--demo", "-l", "app=web"], "-l/--selector does not apply to --demo"),
        # Beside --log-dir a kubeconfig is read for the pods' labels: it must exist.
        (["--kubeconfig", "nowhere"], "kubeconfig not found: nowhere"),
        (["--demo", "--node", "n1"], "--node does not apply to --demo"),
    ],
    ids=[
        "all-namespaces",
        "context",
        "max-streams",
        "demo-namespace",
        "demo-selector",
        "kube",
        "demo-node",
    ],
)
def test_an_option_the_mode_cannot_honour_is_refused(
    tmp_path: Path, options: list[str], message: str
) -> None:
    log_dir = tmp_path / "logs"
    _three_namespaces(log_dir, time.time_ns())
    db = tmp_path / "store.db"
    if "--demo" in options:
        argv = [*options, "--db", str(db)]
    else:
        argv = ["--log-dir", str(log_dir), "--db", str(db), *options]
    done = _collect(*argv, "--once")
    assert done.returncode == 1
    assert done.stderr.startswith(f"klogtui: {message}"), done.stderr
    assert done.stderr.count("\n") == 1
    assert not db.exists()
