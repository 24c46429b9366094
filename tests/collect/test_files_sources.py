"""Where the file collector finds files and what it says about them: containers/
symlinks, unreadable files, a lost inotify queue, a missing log directory."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from klogtui.collect.base import CollectorStats
from klogtui.collect.files.collector import FileCollector
from klogtui.errors import CollectorError
from tests.helpers_files import (
    STAMP,
    Container,
    Run,
    docker_lines,
    docker_log_behind_pod_link,
    lines,
    sources,
)
from tests.waiting import wait_for

CID = "4f1c9e" + "0" * 58


def test_a_file_behind_several_names_is_read_once(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(10)))
    c.link(CID)
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.append(lines(range(10, 15)))
        run.wait_seqs(list(range(15)))
        assert run.writer.flush(10)
        assert sources(run.store)[c.key()].container_id == CID


def test_containers_links_alone_lead_to_pods_elsewhere(tmp_path: Path) -> None:
    # --log-dir holds only containers/; the links point into a pods/ tree elsewhere.
    c = Container(tmp_path / "node")
    c.append(lines(range(10)))
    links = tmp_path / "logs" / "containers"
    c.link(CID, links_dir=links)
    with Run(tmp_path / "logs", tmp_path / "db").caught_up() as run:
        assert run.seqs() == list(range(10))
        c.rotate(STAMP)  # siblings in that directory are followed too
        c.append(lines(range(10, 20)))
        run.wait_seqs(list(range(20)))


def test_unreadable_files_are_reported_once_and_skipped(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)
    c.path(0, "20261119-070000", gz=True).write_bytes(b"not gzip at all\n")
    c.path(0, "20261119-073000").mkdir()  # not a regular file
    c.append(lines(range(10)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs() == list(range(10))
        for i in range(3):  # each new file makes the directory be listed again
            (c.dir / f"other-{i}").write_bytes(b"")
        c.append(lines(range(10, 12)))
        run.wait_seqs(list(range(12)))
        errors = sorted((e.where, e.message) for e in run.stats.snapshot().errors)
        assert [(Path(w).name, m) for w, m in errors] == [
            ("0.log.20261119-070000.gz", "cannot read: Not a gzipped file (b'no'); skipped"),
            ("0.log.20261119-073000", "not a regular file; skipped"),
        ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_is_reported_and_retried_when_fixed(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(5)))
    c.path().chmod(0)
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs() == []
        assert [e.message for e in run.stats.snapshot().errors] == [
            "cannot open: Permission denied; skipped"
        ]
        c.path().chmod(0o644)
        run.wait_seqs(list(range(5)))


def test_queue_overflow_rescans_and_misses_nothing(tmp_path: Path) -> None:
    a = Container(tmp_path / "logs", pod="a")
    b = Container(tmp_path / "logs", pod="b")
    a.append(lines(range(0, 1)))
    b.append(lines(range(100_000, 100_002)))
    with Run(a.log_dir, tmp_path / "db", gate=True).caught_up() as run:
        assert run.gate is not None
        run.gate.open.clear()  # the writer is behind: the collector waits in submit
        a.append(lines(range(1, 2)))
        # Its batch (the line, or its checkpoint while the line may still be joined by
        # more) is due after 0.02 s: then submit waits at the gate.
        wait_for(run.gate.waiting.is_set, what="held batch")
        # Far more events than the kernel queues (16384 by default): alternate the files
        # so the kernel cannot merge them.
        fa = os.open(a.path(), os.O_WRONLY | os.O_APPEND)
        fb = os.open(b.path(), os.O_WRONLY | os.O_APPEND)
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        n = limit // 2 + 1000
        for i in range(2, n):
            os.write(fa, lines([i]))
            os.write(fb, lines([100_000 + i]))
        os.close(fa)
        os.close(fb)
        late = Container(tmp_path / "logs", pod="late")  # its events are lost with the rest
        late.append(lines(range(500_000, 500_010)))
        run.gate.open.set()
        run.wait_seqs(list(range(n)), a.key(), timeout=30)
        run.wait_seqs(list(range(100_000, 100_000 + n)), b.key())
        run.wait_seqs(list(range(500_000, 500_010)), late.key())
        assert any(e.where == "inotify" for e in run.stats.snapshot().errors)


def test_no_kubelet_directory_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CollectorError) as exc:
        FileCollector(tmp_path, [], CollectorStats())  # type: ignore[arg-type]
    message = str(exc.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "--demo" in message and "--kubeconfig" in message


def test_node_name_and_states_of_sources(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    job = Container(tmp_path / "logs", namespace="batch", pod="job-1", uid="uid-2", name="main")
    c.append(lines(range(3)))
    job.append(lines(range(10, 12)))
    with gzip.open(c.path(0, STAMP, gz=True), "wb") as fh:
        fh.write(lines(range(-3, 0)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs(c.key()) == [-3, -2, -1, 0, 1, 2]
        got = {k: (s.node, s.state) for k, s in sources(run.store).items()}
        assert got == {c.key(): ("node-1", "running"), job.key(): ("node-1", "running")}


def test_symlinked_docker_json_file_is_followed(tmp_path: Path) -> None:
    # dockershim: pods/.../0.log is a symlink to Docker's json-file log.
    real, c = docker_log_behind_pod_link(tmp_path, "4f1c9e-json.log", range(5))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs() == list(range(5))
        with open(real, "ab") as fh:
            fh.write(docker_lines(range(5, 10)))
        run.wait_seqs(list(range(10)))
