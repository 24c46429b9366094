"""The file collector through kubelet's file lifecycle: every line stored exactly once.

Each test writes numbered lines into real files, runs the collector into a real store
and asserts the exact sequence stored.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from klogtui.collect.files.identity import CHECKPOINT_PREFIX
from tests.helpers_files import STAMP, Container, Run, cri, lines, open_paths
from tests.waiting import wait_for


def test_backfill_reads_kept_history_then_follows(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)
    c.path(0, "20261119-070000", gz=True).write_bytes(gzip.compress(lines(range(0, 100))))
    c.path(0, "20261119-073000").write_bytes(lines(range(100, 200)))
    c.append(lines(range(200, 300)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs() == list(range(300))
        c.append(lines(range(300, 310)))
        run.wait_seqs(list(range(310)))


def test_backfill_reads_oldest_file_first(tmp_path: Path) -> None:
    # conmon stamps a whole read buffer with one time: with equal timestamps only the
    # reading order decides the stored order.
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)

    def same_time(seqs: range) -> bytes:
        return b"".join(cri(0, text=f"seq={s}") for s in seqs)

    c.path(0, "20261119-070000", gz=True).write_bytes(gzip.compress(same_time(range(0, 30))))
    c.path(0, "20261119-073000").write_bytes(same_time(range(30, 60)))
    c.append(same_time(range(60, 90)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs() == list(range(90))


def test_rename_rotation_drains_the_old_file(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 10)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        with open(c.path(), "ab", buffering=0) as runtime:
            runtime.write(lines(range(10, 20)))
            c.rotate(STAMP)
            # The runtime writes to the renamed file until it reopens.
            runtime.write(lines(range(20, 25)))
        c.append(lines(range(25, 40)))
        run.wait_seqs(list(range(40)))


def test_compressed_rotation_is_not_read_again(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 50)))
    run = Run(c.log_dir, tmp_path / "db").caught_up()
    c.rotate(STAMP)
    c.append(lines(range(50, 60)))
    run.wait_seqs(list(range(60)))
    c.compress(STAMP)
    c.append(lines(range(60, 70)))
    run.wait_seqs(list(range(70)))
    run.stop()
    # A new run finds the .gz and recognises its content as read.
    run = Run(c.log_dir, tmp_path / "db").caught_up()
    c.append(lines(range(70, 80)))
    run.wait_seqs(list(range(80)))
    run.stop()


def test_lines_only_left_in_a_gz_made_while_stopped_are_read(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 50)))
    Run(c.log_dir, tmp_path / "db").caught_up().stop()
    c.append(lines(range(50, 60)))  # never read before...
    c.rotate(STAMP)
    c.append(lines(range(60, 70)))
    c.compress(STAMP)  # ...and now only in the .gz
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(70)))


def test_copytruncate_while_running(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 20)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        shutil.copyfile(c.path(), c.path(0, STAMP))
        os.truncate(c.path(), 0)
        c.append(lines(range(20, 30)))
        run.wait_seqs(list(range(30)))


def test_copytruncate_while_stopped_reads_the_rest_from_the_copy(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 20)))
    Run(c.log_dir, tmp_path / "db").caught_up().stop()
    c.append(lines(range(20, 30)))
    shutil.copyfile(c.path(), c.path(0, STAMP))
    os.truncate(c.path(), 0)
    c.append(lines(range(30, 40)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(40)))


def test_truncate_then_regrow_while_running(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 20)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        with open(c.path(), "r+b") as fh:
            fh.truncate(0)
        c.append(lines(range(20, 60)))  # past the old offset at once
        run.wait_seqs(list(range(60)))


def test_truncate_then_regrow_while_stopped(tmp_path: Path) -> None:
    # Promtail misses this: same inode, new size >= the old offset.
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 20)))
    Run(c.log_dir, tmp_path / "db").caught_up().stop()
    with open(c.path(), "r+b") as fh:
        fh.truncate(0)
    c.append(lines(range(20, 60)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(60)))


def test_inode_reuse_while_stopped_reads_the_new_file_whole(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 30)))
    Run(c.log_dir, tmp_path / "db").caught_up().stop()
    os.unlink(c.path())
    c.append(lines(range(100, 160)))  # on ext4 this usually gets the freed inode number
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(0, 30)) + list(range(100, 160)))


def test_replacement_by_tmp_and_rename(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 10)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        with open(c.path(), "ab", buffering=0) as runtime:
            runtime.write(lines(range(10, 15)))
            tmp = c.dir / "0.log.tmp"
            tmp.write_bytes(lines(range(15, 20)))
            os.rename(tmp, c.path())
        c.append(lines(range(20, 25)))
        run.wait_seqs(list(range(25)))


def test_deleted_pod_is_read_to_the_end_and_released(tmp_path: Path) -> None:
    app = Container(tmp_path / "logs")
    sidecar = Container(tmp_path / "logs", name="proxy")
    app.append(lines(range(0, 10)))
    sidecar.append(lines(range(1000, 1010)))
    with Run(app.log_dir, tmp_path / "db").caught_up() as run:
        app.append(lines(range(10, 20)))
        shutil.rmtree(app.pod_dir)
        run.wait_seqs(list(range(20)), app.key())
        run.wait_seqs(list(range(1000, 1010)), sidecar.key())
        wait_for(lambda: run.stats.files_open == 0, what="files closed")
        assert not [p for p in open_paths() if str(app.log_dir) in p]
        wait_for(lambda: _states(run) == {"deleted"}, what="deleted state")
        # Nothing holds that content any more: its checkpoints go too.
        wait_for(lambda: not run.store.load_checkpoints(CHECKPOINT_PREFIX), what="no checkpoints")


def _states(run: Run) -> set[str]:
    assert run.writer.flush(10)
    reader = run.store.reader()
    try:
        return {s.state for s in reader.sources()}
    finally:
        reader.close()


def test_container_restart_is_a_new_source(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 10)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.append(lines(range(10, 20)), restart=1)
        run.wait_seqs(list(range(0, 10)), c.key(0))
        run.wait_seqs(list(range(10, 20)), c.key(1))
        assert run.writer.flush(10)
        reader = run.store.reader()
        states = {s.key: (s.state, s.node) for s in reader.sources()}
        reader.close()
        assert states == {c.key(0): ("terminated", "node-1"), c.key(1): ("running", "node-1")}
        # No container writes to 0.log any more: it is closed once idle.
        wait_for(lambda: run.stats.files_open == 1, what="idle file closed")
        c.append(lines(range(20, 22)), restart=1)
        run.wait_seqs(list(range(10, 22)), c.key(1))


def test_checkpoints_of_removed_rotations_are_deleted(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 10)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.rotate(STAMP)
        c.append(lines(range(10, 20)))
        c.compress(STAMP)
        run.wait_seqs(list(range(20)))
        wait_for(lambda: len(run.store.load_checkpoints(CHECKPOINT_PREFIX)) == 2, what="two")
        c.path(0, STAMP, gz=True).unlink()  # kubelet removes the oldest rotation
        wait_for(lambda: len(run.store.load_checkpoints(CHECKPOINT_PREFIX)) == 1, what="one")
        assert [s.message for s in run.stored()] == [f"seq={i}" for i in range(20)]


def test_exactly_once_over_many_restarts_while_writing(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)
    written = 0
    for round_ in range(6):
        run = Run(c.log_dir, tmp_path / "db")
        for _ in range(5):
            c.append(lines(range(written, written + 7)))
            written += 7
        if round_ % 2:
            c.rotate(f"20261119-0800{round_:02d}")
        c.append(lines(range(written, written + 3)))
        written += 3
        run.stop()
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(written)))
