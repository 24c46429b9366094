"""The file collector under the kernel's limits, as `klogtui collect` meets them on a busy
node: inotify watches or instances used up, few file descriptors. It degrades to polling,
says so once, and stores every line once.

The limits are real: the collector runs in a user namespace of its own, whose
/proc/sys/user/max_inotify_* it may lower for itself (the machine's limits, and the
tests running beside this one, are untouched), or under an RLIMIT_NOFILE of its own.
"""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from klogtui.store import Store
from tests.helpers_faults import (
    Tally,
    collect_argv,
    committed_by_pod,
    committed_lines,
    tally,
    user_namespaces_work,
    with_inotify_limits,
)
from tests.helpers_files import Container, lines
from tests.waiting import wait_for

needs_userns = pytest.mark.skipif(
    not user_namespaces_work(), reason="needs `unshare --user` to lower inotify limits"
)


def _wait_stored(db: Path, want: dict[str, int]) -> None:
    """Wait (15 s at most) until every pod in `want` has that many lines stored."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = committed_by_pod(db)
        if all(found.get(pod, 0) >= n for pod, n in want.items()):
            return
        time.sleep(0.05)


def _churn(
    log_dir: Path, db: Path, waves: int, pods_per_wave: int, last_read: bool
) -> dict[str, int]:
    """Pods come in waves, write, and are deleted after their last lines.

    A pod is deleted once the collector stored its first lines, or 15 s after it
    started writing if it never did (then its lines are lost, as on a node where
    nobody read them in time). Its last lines are written right before it is deleted
    (read from the deleted file), or, with `last_read`, once they were stored too.
    Returns the lines written per pod.
    """
    counts: dict[str, int] = {}
    for wave in range(waves):
        pods = [
            Container(log_dir, namespace="churn", pod=f"w{wave}p{i}", uid=f"u{wave}-{i}")
            for i in range(pods_per_wave)
        ]
        for p in pods:
            p.dir.mkdir(parents=True)
        # The kubelet makes the directories, the runtime starts writing a moment later:
        # files appear in directories the collector has already listed.
        time.sleep(0.3)
        for p in pods:
            p.append(lines(range(50)))
            counts[p.pod] = 50
        _wait_stored(db, {p.pod: 1 for p in pods})
        for p in pods:
            p.append(lines(range(50, 80)))  # last words
            counts[p.pod] = 80
            if not last_read:
                shutil.rmtree(p.pod_dir)
        if last_read:
            _wait_stored(db, {p.pod: 80 for p in pods})
            for p in pods:
                shutil.rmtree(p.pod_dir)
    return counts


def _collect_through_churn(
    tmp_path: Path,
    argv: list[str],
    preexec_fn: Callable[[], None] | None = None,
    last_read: bool = False,
) -> tuple[Tally, int, str]:
    """`klogtui collect` (argv) running while pods churn in tmp_path/logs; then
    SIGTERM. Returns the tally of the store, the lines written and what it printed."""
    log_dir = tmp_path / "logs"
    keeper = Container(log_dir, namespace="churn", pod="keeper", uid="u-keep")
    keeper.append(lines(range(10)))
    db = tmp_path / "store.db"
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn
    )
    try:
        wait_for(lambda: committed_lines(db) == 10, timeout=30, what="collector running")
        counts = _churn(log_dir, db, waves=3, pods_per_wave=30, last_read=last_read)
        keeper.append(lines(range(10, 20)))
        counts["keeper"] = 20
        total = sum(counts.values())
        deadline = time.monotonic() + 30
        while committed_lines(db) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    return tally(Store.open(db), counts), total, err


@needs_userns
def test_pod_churn_with_40_inotify_watches_loses_nothing_and_says_so_once(
    tmp_path: Path,
) -> None:
    argv = with_inotify_limits(collect_argv(tmp_path / "logs", tmp_path / "store.db"), watches=40)
    result, total, err = _collect_through_churn(tmp_path, argv)
    print(f"40 watches: {result}; stderr: {err!r}")
    assert (result.stored, result.duplicated, result.lost) == (total, 0, 0)
    said = err.splitlines()
    assert len(said) == 1, err
    assert "out of watches (raise fs.inotify.max_user_watches)" in said[0]
    assert "directories are polled every 1 s instead of watched" in said[0]


@needs_userns
def test_no_inotify_instance_left_polls_everything_and_says_so_once(tmp_path: Path) -> None:
    argv = with_inotify_limits(collect_argv(tmp_path / "logs", tmp_path / "store.db"), instances=0)
    result, total, err = _collect_through_churn(tmp_path, argv)
    print(f"0 inotify instances: {result}; stderr: {err!r}")
    assert (result.stored, result.duplicated, result.lost) == (total, 0, 0)
    said = err.splitlines()
    assert len(said) == 1, err
    assert said[0].startswith("klogtui: inotify: cannot start (Too many open files")
    assert "fs.inotify.max_user_instances" in said[0] and "polled every 1 s" in said[0]


def _nofile(n: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))  # soft and hard: no raising it

    return limit


def test_pod_churn_with_20_file_descriptors_loses_nothing_and_says_so_once(
    tmp_path: Path,
) -> None:
    argv = collect_argv(tmp_path / "logs", tmp_path / "store.db")
    # 20 descriptors hold ~10 files, for 30 pods at a time: the files take turns. A
    # file closed for its turn and deleted right after a write cannot be read by
    # anyone, so here pods go once their last lines are stored.
    result, total, err = _collect_through_churn(tmp_path, argv, _nofile(20), last_read=True)
    print(f"ulimit -n 20: {result}; stderr: {err!r}")
    assert (result.stored, result.duplicated, result.lost) == (total, 0, 0)
    assert err.splitlines() == [
        "klogtui: file descriptors: out of them (Too many open files; ulimit -n is 20): "
        "files are read in turns, closed once read and reopened when they grow"
    ]


def test_once_with_12_file_descriptors_reads_all_40_pods(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    pods = [Container(log_dir, pod=f"p{i}", uid=f"u{i}") for i in range(40)]
    for p in pods:
        p.append(lines(range(100)))
        p.rotate("20261119-070000")
        p.compress("20261119-070000")
        p.append(lines(range(100, 150)))
    db = tmp_path / "store.db"
    done = subprocess.run(
        collect_argv(log_dir, db, "--once"),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_nofile(12),
    )
    assert done.returncode == 0, done.stderr
    result = tally(Store.open(db), {p.pod: 150 for p in pods})
    print(f"--once, ulimit -n 12: {result}; stderr: {done.stderr!r}")
    assert (result.stored, result.duplicated, result.lost) == (6000, 0, 0)
    assert done.stderr.splitlines() == [
        "klogtui: file descriptors: out of them (Too many open files; ulimit -n is 12): "
        "files are read in turns, closed once read and reopened when they grow"
    ]


def test_too_few_file_descriptors_to_read_any_file_are_refused_at_start(tmp_path: Path) -> None:
    # 8 descriptors cannot hold the store, the collector's own and one log file: the
    # collector used to start, then stop with "No usable temporary directory" (or, at
    # 9 or 10, wait forever with nothing read). It refuses at once, naming the minimum,
    # and that minimum is enough.
    log_dir = tmp_path / "logs"
    pods = [Container(log_dir, pod=f"p{i}", uid=f"u{i}") for i in range(5)]
    for p in pods:
        p.append(lines(range(100)))
    db = tmp_path / "store.db"
    refused = subprocess.run(
        collect_argv(log_dir, db, "--once"),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_nofile(8),
    )
    print(f"ulimit -n 8: exit {refused.returncode}; stderr: {refused.stderr!r}")
    assert refused.returncode == 1
    said = refused.stderr.splitlines()
    assert len(said) == 1, refused.stderr
    prefix = "klogtui: file descriptors: klogtui collect needs at least "
    assert said[0].startswith(prefix), said[0]
    assert said[0].endswith(
        " open files; ulimit -n is 8: raise it (ulimit -n 1024 or more for a busy node)"
    )
    assert not db.exists()  # nothing half-written
    minimum = int(said[0].removeprefix(prefix).split()[0])
    done = subprocess.run(
        collect_argv(log_dir, db, "--once"),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_nofile(minimum),
    )
    assert done.returncode == 0, done.stderr
    result = tally(Store.open(db), {p.pod: 100 for p in pods})
    assert (result.stored, result.duplicated, result.lost) == (500, 0, 0)
