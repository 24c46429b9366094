"""The file collector under the kernel's limits, as `klogtui collect` meets them on a busy
node: inotify watches or instances used up, few file descriptors. It degrades to polling,
says so once, and stores every line once.

The limits are real: the collector runs in a user namespace of its own, whose
/proc/sys/user/max_inotify_* it may lower for itself (the machine's limits, and the
tests running beside this one, are untouched), or under an RLIMIT_NOFILE of its own.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from klogtui.store import Store
from tests.helpers_faults import (
    collect_argv,
    committed_by_pod,
    committed_lines,
    tally,
    user_namespaces_work,
    with_inotify_limits,
)
from tests.helpers_files import Container, lines, wait_for

needs_userns = pytest.mark.skipif(
    not user_namespaces_work(), reason="needs `unshare --user` to lower inotify limits"
)


def _churn(log_dir: Path, db: Path, waves: int, pods_per_wave: int) -> dict[str, int]:
    """Pods come in waves, write, and are deleted right after their last lines.

    A pod is deleted once the collector stored its first lines, or 15 s after it
    started writing if it never did (then its lines are lost, as on a node where
    nobody read them in time). Returns the lines written per pod.
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
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = committed_by_pod(db)
            if all(found.get(p.pod, 0) for p in pods):
                break
            time.sleep(0.05)
        for p in pods:
            p.append(lines(range(50, 80)))  # last words, read from the deleted file
            counts[p.pod] = 80
            shutil.rmtree(p.pod_dir)
    return counts


@needs_userns
def test_pod_churn_with_40_inotify_watches_loses_nothing_and_says_so_once(
    tmp_path: Path,
) -> None:
    log_dir = tmp_path / "logs"
    keeper = Container(log_dir, namespace="churn", pod="keeper", uid="u-keep")
    keeper.append(lines(range(10)))
    db = tmp_path / "store.db"
    proc = subprocess.Popen(
        with_inotify_limits(collect_argv(log_dir, db), watches=40),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: committed_lines(db) == 10, timeout=30, what="collector running")
        counts = _churn(log_dir, db, waves=3, pods_per_wave=30)
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
    result = tally(Store.open(db), counts)
    print(f"40 watches, {len(counts)} pods: {result}; stderr: {err!r}")
    assert (result.stored, result.duplicated, result.lost) == (total, 0, 0)
    said = [ln for ln in err.splitlines() if "watch" in ln]
    assert len(said) == 1, err
    assert "fs.inotify.max_user_watches" in said[0]
    assert "polled" in said[0]
