"""Fault injection on the node's files, with the real collector, inotify and store:
rotation at 10k lines/s by every method, rotations while the collector is stopped,
inode reuse, containers/ symlinks that vanish or move, container restarts and deleted
pods. Every test asserts the exact stored lines by sequence number.

CI runs short versions; ``pytest -m chaos`` runs the long ones (same code, longer).
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from klogtui.collect.files.identity import CHECKPOINT_PREFIX
from klogtui.model import Flag
from klogtui.store import Store
from tests.helpers_faults import (
    METHODS,
    collect_proc,
    committed_lines,
    stamp,
    start_writer,
    tally,
    written,
)
from tests.helpers_files import (
    Container,
    Run,
    cri,
    docker_lines,
    docker_log_behind_pod_link,
    lines,
    open_paths,
    sources,
    stored,
    stored_seqs,
)
from tests.waiting import wait_for

CID = "4f1c9e" + "0" * 58

# (seconds of writing, lines per rotated file): short in CI, long under -m chaos.
DURATIONS = [
    pytest.param(2.0, 2_500, id="2s"),
    pytest.param(60.0, 20_000, id="60s", marks=pytest.mark.chaos),
]


# -- rotation under load -----------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "rotate_lines"), DURATIONS)
@pytest.mark.parametrize("method", METHODS)
def test_rotation_at_10k_lines_per_second(
    tmp_path: Path, method: str, seconds: float, rotate_lines: int
) -> None:
    log_dir = tmp_path / "logs"
    (log_dir / "pods").mkdir(parents=True)
    with Run(log_dir, tmp_path / "db").caught_up() as run:
        proc = start_writer(
            log_dir, method, rate=10_000, seconds=seconds, rotate_lines=rotate_lines
        )
        assert proc.wait(seconds + 60) == 0
        w = written(log_dir)
        assert w.rotations >= 4
        wait_for(lambda: run.count() >= w.total, timeout=30, what="every line stored")
        time.sleep(0.3)  # a late duplicate would show now
        result = tally(run.store, w.pods)
        print(f"{method} {seconds:.0f}s: {w.rate:,.0f} lines/s, {w.rotations} rotations, {result}")
        assert (result.stored, result.duplicated, result.lost, result.out_of_order) == (
            w.total,
            0,
            0,
            0,
        )
        assert not [s for s in run.stored() if s.flags]


# -- rotations while the collector is stopped -------------------------------------------


def _rotate(c: Container, method: str, n: int) -> None:
    """One rotation of c's live file by `method` (the runtime reopens at once)."""
    if method == "copytruncate":
        shutil.copyfile(c.path(), c.path(0, stamp(n)))
        os.truncate(c.path(), 0)
    elif method == "tmp-rename":
        tmp = c.dir / "0.log.tmp"
        tmp.write_bytes(b"")
        os.rename(tmp, c.path())
    else:
        c.rotate(stamp(n))
        if method == "gzip" and n > 1:
            c.compress(stamp(n - 1))


@pytest.mark.parametrize("method", ["rename", "gzip", "copytruncate", "mixed"])
def test_two_rotations_while_stopped(tmp_path: Path, method: str) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 100)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.append(lines(range(100, 150)))
        run.wait_seqs(list(range(150)))
    c.append(lines(range(150, 200)))  # never read before the first rotation
    _rotate(c, "rename" if method == "mixed" else method, 1)
    c.append(lines(range(200, 300)))
    _rotate(c, "copytruncate" if method == "mixed" else method, 2)
    c.append(lines(range(300, 350)))
    if method == "gzip":
        assert sorted(p.name for p in c.dir.iterdir()) == [
            "0.log",
            f"0.log.{stamp(1)}.gz",
            f"0.log.{stamp(2)}",
        ]
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(350)))
        c.append(lines(range(350, 360)))
        run.wait_seqs(list(range(360)))


def test_two_rotations_after_kill_9(tmp_path: Path) -> None:
    """`klogtui collect` killed mid-stream, the files rotated twice (the older rotation
    gzipped), then `collect --once`: every line once."""
    c = Container(tmp_path / "logs")
    db = tmp_path / "store.db"
    c.append(lines(range(0, 2000)))
    proc = collect_proc(c.log_dir, db)
    try:
        wait_for(lambda: committed_lines(db) >= 1000, 20, "ingest")
        c.append(lines(range(2000, 3000)))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    c.rotate(stamp(1))
    c.append(lines(range(3000, 4000)))
    c.rotate(stamp(2))
    c.compress(stamp(1))
    c.append(lines(range(4000, 4500)))
    done = collect_proc(c.log_dir, db, "--once")
    _, err = done.communicate(timeout=60)
    assert done.returncode == 0, err.decode()
    assert stored_seqs(Store.open(db)) == list(range(4500))


def test_tmp_rename_while_stopped_reads_what_the_file_holds(tmp_path: Path) -> None:
    # A file replaced while nobody read it is gone with its unread lines; the
    # replacement is read whole and nothing read before comes again.
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 50)))
    Run(c.log_dir, tmp_path / "db").caught_up().stop()
    c.append(lines(range(50, 60)))  # lost with the old inode: no name leads to it
    _rotate(c, "tmp-rename", 1)
    c.append(lines(range(60, 70)))
    _rotate(c, "tmp-rename", 2)
    c.append(lines(range(70, 80)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(50)) + list(range(70, 80)))
        assert len(run.store.load_checkpoints(CHECKPOINT_PREFIX)) == 1


# -- inode reuse -------------------------------------------------------------------------


def _reuse_inode(path: Path, data: bytes, inode: int) -> None:
    """Write a new file at path that gets `inode` (ext4 hands a freed one out again)."""
    path.write_bytes(data)
    if path.stat().st_ino != inode:
        pytest.skip("this file system did not reuse the freed inode")


@pytest.mark.parametrize("longer", [True, False], ids=["longer", "shorter"])
def test_inode_reuse_while_stopped(tmp_path: Path, longer: bool) -> None:
    """Deleted and recreated with the same inode and other content: read whole, whether
    the new file is longer than the old offset (Fluent Bit #1875) or shorter."""
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 40)))
    inode = c.path().stat().st_ino
    Run(c.log_dir, tmp_path / "db").caught_up().stop()
    c.path().unlink()
    new = range(100, 200) if longer else range(100, 105)
    _reuse_inode(c.path(), lines(new), inode)
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(40)) + list(new))
        c.append(lines(range(200, 210)))
        run.wait_seqs(list(range(40)) + list(new) + list(range(200, 210)))


def test_inode_reuse_while_running(tmp_path: Path) -> None:
    """The collector releases a deleted file; a new one gets its inode: a new stream."""
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 40)))
    inode = c.path().stat().st_ino
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.path().unlink()
        # The inode is only free once the collector closed its descriptor.
        wait_for(lambda: run.stats.files_open == 0, what="deleted file released")
        _reuse_inode(c.path(), lines(range(100, 300)), inode)
        run.wait_seqs(list(range(40)) + list(range(100, 300)))
        c.append(lines(range(300, 310)))
        run.wait_seqs(list(range(40)) + list(range(100, 310)))


def test_inode_of_a_deleted_gz_reused_by_the_next_gz(tmp_path: Path) -> None:
    """Kubelet removes the oldest .gz; the next file made in the directory (the new
    0.log, or the next .gz whose content was read from its plain rotation) gets its
    inode: nothing is lost or read twice."""
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 30)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.rotate(stamp(1))
        c.append(lines(range(30, 60)))
        c.compress(stamp(1))
        run.wait_seqs(list(range(60)))
        gz = c.path(0, stamp(1), gz=True)
        inode = gz.stat().st_ino
        gz.unlink()
        c.rotate(stamp(2))
        c.append(lines(range(60, 90)))
        run.wait_seqs(list(range(90)))
        c.compress(stamp(2))
        # The new 0.log or the new .gz got the freed inode.
        if inode not in {p.stat().st_ino for p in c.dir.iterdir()}:
            pytest.skip("this file system did not reuse the freed inode")
        c.append(lines(range(90, 100)))
        run.wait_seqs(list(range(100)))
        wait_for(lambda: len(run.store.load_checkpoints(CHECKPOINT_PREFIX)) == 2, what="two")


# -- containers/ symlinks -----------------------------------------------------------------


def test_link_removed_while_its_file_lives_on(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(10)))
    link = c.link(CID)
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        link.unlink()
        c.append(lines(range(10, 20)))
        run.wait_seqs(list(range(20)))
        assert run.collector.failure is None and not run.stats.snapshot().errors


def test_link_retargeted_to_the_next_restart(tmp_path: Path) -> None:
    """Kubelet points the link at 1.log after a restart (by renaming a new link over
    it): both instances are read once, through links alone."""
    c = Container(tmp_path / "node")
    c.append(lines(range(10)))
    links = tmp_path / "logs" / "containers"
    link = c.link(CID, links_dir=links)
    with Run(tmp_path / "logs", tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(10)))
        c.append(lines(range(10, 20)), restart=1)
        tmp = links / "new.tmp"
        tmp.symlink_to(c.path(1))
        os.rename(tmp, link)
        run.wait_seqs(list(range(10)), c.key(0))
        run.wait_seqs(list(range(10, 20)), c.key(1))
        c.append(lines(range(20, 30)), restart=1)
        run.wait_seqs(list(range(10, 30)), c.key(1))


def test_dangling_looping_and_foreign_links_are_skipped(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(10)))
    links = c.log_dir / "containers"
    links.mkdir()
    gone = Container(tmp_path / "logs", pod="gone", uid="uid-9")
    (links / f"gone_shop_app-{CID}.log").symlink_to(gone.path())  # dangling
    loop = links / f"loop_shop_app-{CID}.log"
    loop.symlink_to(loop)  # a link to itself
    (links / f"etc_shop_app-{CID}.log").symlink_to("/etc/hostname")  # not a pod log
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(10)))
        # Links come and go while running; the loop is touched again.
        loop.unlink()
        loop.symlink_to(loop)
        (links / f"web-1_shop_app-{CID}.log").symlink_to(c.path())
        c.append(lines(range(10, 20)))
        run.wait_seqs(list(range(20)))
        # The link's target appears later: its file is read like any pod's.
        gone.append(lines(range(500, 505)))
        run.wait_seqs(list(range(500, 505)), gone.key())
        errors = {(Path(e.where).name, e.message) for e in run.stats.snapshot().errors}
        assert errors == {
            (f"etc_shop_app-{CID}.log", "symlink does not lead to a kubelet pod log; skipped"),
            (f"loop_shop_app-{CID}.log", "symlink does not lead to a kubelet pod log; skipped"),
        }
        assert run.collector.failure is None


# -- container restarts -------------------------------------------------------------------


def test_crash_loop_while_running_and_while_stopped(tmp_path: Path) -> None:
    """Restarts in quick succession, some while the collector is down: every instance
    is a source of its own, read once; finished instances' files get closed."""
    c = Container(tmp_path / "logs")
    expected: dict[int, list[int]] = {}

    def instance(r: int, seqs: range, end: bytes = b"") -> None:
        c.append(lines(seqs) + end, restart=r)
        expected.setdefault(r, []).extend(seqs)

    instance(0, range(0, 10))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        for r in range(1, 8):
            instance(r, range(r * 100, r * 100 + 10))
        run.wait_seqs(list(range(10)), c.key(0))
        run.wait_seqs(list(range(700, 710)), c.key(7))
        wait_for(lambda: run.stats.files_open == 1, what="finished instances closed")
    # Down: instance 7 finishes with a half-written line, 8 and 9 run and die.
    instance(7, range(710, 712), cri(712, text="seq=712 cut")[:-1])
    expected[7].append(712)
    instance(8, range(800, 810))
    instance(9, range(900, 905))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        for r, seqs in expected.items():
            run.wait_seqs(seqs, c.key(r))
        assert [s.flags for s in run.stored() if s.message == "seq=712 cut"] == [Flag.UNTERMINATED]
        states = {k.restart: s.state for k, s in sources(run.store).items()}
        assert states == {r: "terminated" for r in range(9)} | {9: "running"}


# -- deleted pods -------------------------------------------------------------------------


def test_pod_churn_releases_every_descriptor(tmp_path: Path) -> None:
    """24 pods come, write, rotate and go while the collector runs; each is deleted
    right after its last lines are written: those are read from the deleted files, all
    lines are stored once, and no descriptor or checkpoint of theirs is left."""
    log_dir = tmp_path / "logs"
    keeper = Container(log_dir, pod="keeper", uid="uid-keep")
    keeper.append(lines(range(10**6, 10**6 + 5)))
    pods = [Container(log_dir, pod=f"churn-{i}", uid=f"uid-c{i}") for i in range(24)]

    def last_words(i: int) -> None:
        pods[i].append(lines(range(i * 1000 + 30, i * 1000 + 40)))
        shutil.rmtree(pods[i].pod_dir)

    with Run(log_dir, tmp_path / "db").caught_up() as run:
        for i, p in enumerate(pods):
            p.append(lines(range(i * 1000, i * 1000 + 20)))
            if i % 3 == 0:
                p.rotate(stamp(i))
            p.append(lines(range(i * 1000 + 20, i * 1000 + 30)))
            # Deleted once the collector found it (lines written to a file nobody
            # opened before its deletion cannot be read by anyone).
            label = str(p.key())
            wait_for(lambda: label in run.stats.snapshot().per_source_rate, what="seen")  # noqa: B023
            if i >= 5:
                last_words(i - 5)
        for i in range(len(pods) - 5, len(pods)):
            last_words(i)
        for i, p in enumerate(pods):
            run.wait_seqs(list(range(i * 1000, i * 1000 + 40)), p.key())
        wait_for(lambda: run.stats.files_open == 1, what="deleted pods' files closed")
        assert [p for p in open_paths() if "churn-" in p] == []
        wait_for(
            lambda: len(run.store.load_checkpoints(CHECKPOINT_PREFIX)) == 1,
            what="checkpoints of deleted pods removed",
        )
        states = {k.pod: s.state for k, s in sources(run.store).items()}
        assert states == {"keeper": "running"} | {p.pod: "deleted" for p in pods}


def test_pods_deleted_while_stopped_and_during_backfill(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    pods = [Container(log_dir, pod=f"p{i}", uid=f"uid-{i}") for i in range(6)]
    for i, p in enumerate(pods):
        p.append(lines(range(i * 1000, i * 1000 + 10)))
    with Run(log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs([s for i in range(6) for s in range(i * 1000, i * 1000 + 10)])
    shutil.rmtree(pods[0].pod_dir)  # deleted while stopped
    for i, p in enumerate(pods[1:], 1):
        p.dir.joinpath("0.log.20261119-070000.gz").write_bytes(
            gzip.compress(lines(range(i * 1000 - 500, i * 1000 - 400)))
        )
    run = Run(log_dir, tmp_path / "db")
    shutil.rmtree(pods[1].pod_dir)  # deleted while the backfill may be reading it
    run.caught_up()
    try:
        got = {p.pod: run.seqs(p.key()) for p in pods}
        assert got["p0"] == list(range(10))
        assert got["p1"][-10:] == list(range(1000, 1010))  # its .gz may be gone unread
        assert got["p1"][:-10] in ([], list(range(500, 600)))
        for i in range(2, 6):
            assert got[f"p{i}"] == list(range(i * 1000 - 500, i * 1000 - 400)) + list(
                range(i * 1000, i * 1000 + 10)
            )
        wait_for(lambda: run.stats.files_open == 4, what="only live pods' files open")

        def states() -> dict[str, str]:
            assert run.writer.flush(10)
            return {k.pod: s.state for k, s in sources(run.store).items()}

        # p1's state goes into the batch after the one that closed its file: wait for it.
        expected = {"p0": "deleted", "p1": "deleted"} | {f"p{i}": "running" for i in range(2, 6)}
        wait_for(lambda: states() == expected, what=f"states {expected}")
    finally:
        run.stop()
    assert [s for s in stored(run.store) if s.flags] == []


def test_pod_whose_files_went_while_stopped_is_deleted_when_its_directory_goes(
    tmp_path: Path,
) -> None:
    """A pod caught half-deleted at start (its files gone, its directory not yet):
    nothing of it is found to read, and the directory goes after the startup scan.
    The pod is shown deleted then, not running forever."""
    log_dir = tmp_path / "logs"
    gone, kept = (Container(log_dir, pod=p, uid=f"uid-{p}") for p in ("gone", "kept"))
    for i, c in enumerate((gone, kept)):
        c.append(lines(range(i * 100, i * 100 + 10)))
    with Run(log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(10)) + list(range(100, 110)))
    shutil.rmtree(gone.dir)  # the pod directory itself stays, empty
    with Run(log_dir, tmp_path / "db").caught_up() as run:

        def states() -> dict[str, str]:
            assert run.writer.flush(10)
            return {k.pod: s.state for k, s in sources(run.store).items()}

        gone.pod_dir.rmdir()
        expected = {"gone": "deleted", "kept": "running"}
        wait_for(lambda: states() == expected, what=f"states {expected}")
        assert run.seqs(gone.key()) == list(range(10))
    assert [s for s in stored(run.store) if s.flags] == []


# -- dockershim: pods/.../0.log is a symlink to Docker's json-file log --------------------


def test_docker_rotation_behind_a_pod_symlink(tmp_path: Path) -> None:
    """Docker rotates its json log by renaming it (<id>-json.log.1) and reopening;
    the kubelet's symlink keeps its name and so leads to the new file."""
    real, c = docker_log_behind_pod_link(tmp_path, "c0ffee-json.log", range(10))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        with open(real, "ab", buffering=0) as dockerd:
            dockerd.write(docker_lines(range(10, 20)))
            os.rename(real, real.with_name(real.name + ".1"))
            dockerd.write(docker_lines(range(20, 25)))  # until it reopens
        real.write_bytes(docker_lines(range(25, 40)))
        run.wait_seqs(list(range(40)))
        with open(real, "ab") as fh:
            fh.write(docker_lines(range(40, 45)))
        run.wait_seqs(list(range(45)))
        wait_for(lambda: run.stats.files_open == 1, what="the rotated json log released")


def test_pod_symlink_retargeted_and_dangling(tmp_path: Path) -> None:
    """The link is replaced by one to another file (read from its start; the old
    file is drained and released), then left dangling (nothing to read, no error),
    then its target appears (found by the next poll: no event announces it)."""
    first = tmp_path / "docker" / "a-json.log"
    second = tmp_path / "docker" / "b-json.log"
    first.parent.mkdir()
    first.write_bytes(docker_lines(range(10)))
    second.write_bytes(docker_lines(range(100, 110)))
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)
    c.path().symlink_to(first)
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        run.wait_seqs(list(range(10)))
        tmp = c.dir / "0.log.tmp"
        tmp.symlink_to(second)
        os.rename(tmp, c.path())
        run.wait_seqs(list(range(10)) + list(range(100, 110)))
        wait_for(lambda: run.stats.files_open == 1, what="the first file released")
        second.unlink()  # dangling now
        run.wait_seqs(list(range(10)) + list(range(100, 110)))
        wait_for(lambda: run.stats.files_open == 0, what="the deleted target released")
        second.write_bytes(docker_lines(range(200, 205)))
        run.wait_seqs(list(range(10)) + list(range(100, 110)) + list(range(200, 205)), timeout=5)
        assert run.stats.snapshot().errors == ()
