"""Recent first: a container with much unread history has its newest lines stored before
its older ones, which are read afterwards; every line is still stored exactly once, in
order, across crashes at any point of the backfill (see klogtui.collect.files.backfill).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from klogtui.collect.files import backfill, read
from klogtui.collect.files.identity import CHECKPOINT_PREFIX
from klogtui.collect.files.recent import recent_start
from klogtui.model import Batch
from klogtui.store import Writer
from tests.helpers_files import FAST, T0, Container, Run, cri, lines, seq_of
from tests.waiting import wait_for

# Lines are 1 ms apart: a window of 1 s is the newest 1,000 lines of a container.
RECENT = replace(FAST, recent_window_s=1.0, recent_min_bytes=10_000, batch_lines=300)


class Recording:
    """A sink in front of the writer that remembers the seqs of each batch, in order,
    and can fail (as a crash would) at a given batch: it and later ones are lost."""

    def __init__(self, writer: Writer, fail_at: int | None = None) -> None:
        self.writer = writer
        self.fail_at = fail_at
        self.batches: list[list[int]] = []

    def submit(self, batch: Batch) -> None:
        if self.fail_at is not None and len(self.batches) >= self.fail_at:
            raise RuntimeError("crash")
        self.batches.append([seq_of(line) for r in batch.records for line in r.message.split("\n")])
        self.writer.submit(batch)


def _history(log_dir: Path, pods: int = 2, per_file: int = 2_000) -> dict[str, list[int]]:
    """Each pod: a rotated file then its live file, per_file lines each; returns the seqs
    each pod's files hold, oldest first."""
    written = {}
    for p in range(pods):
        c = Container(log_dir, pod=f"web-{p}", uid=f"uid-{p}")
        c.append(lines(range(0, per_file)))
        c.rotate("20261119-074640")
        c.append(lines(range(per_file, 2 * per_file)))
        written[c.pod] = list(range(2 * per_file))
    return written


def _by_pod(run: Run) -> dict[str, list[int]]:
    """Each pod's stored lines' seqs, in stored order, once all handed over is committed."""
    out: dict[str, list[int]] = {}
    for ln in run.stored():
        out.setdefault(ln.key.pod, []).extend(seq_of(m) for m in ln.message.split("\n"))
    return out


def test_the_newest_lines_of_every_container_are_stored_before_the_older(tmp_path: Path) -> None:
    written = _history(tmp_path / "logs")
    sinks: list[Recording] = []

    def sink(w: Writer) -> Recording:
        sinks.append(Recording(w))
        return sinks[0]

    with Run(tmp_path / "logs", tmp_path / "db", RECENT, sink=sink).caught_up(30) as run:
        assert run.collector.recent_read()
        done, total = run.collector.history_progress()
        assert done == total > 0
        assert _by_pod(run) == written  # each line once, in order
    newest = 2 * 2_000 - 1
    recent = set(range(newest - 1_000, newest + 1))  # 1 s of 1 ms lines, both ends in
    order = [s for b in sinks[0].batches for s in b]
    first_old = next(i for i, s in enumerate(order) if s not in recent)
    # Every container's recent lines were handed over before any older line.
    assert sorted(order[:first_old]) == sorted(list(recent) * 2)


@pytest.mark.usefixtures("small_chunks")
def test_the_older_history_of_all_containers_loads_side_by_side_in_time(tmp_path: Path) -> None:
    # Three containers of the same 4 s: while their older history loads, each reaches
    # back as far as the others (the store appends), not one container after another.
    written = _history(tmp_path / "logs", pods=3)
    sinks: list[Recording] = []

    def sink(w: Writer) -> Recording:
        sinks.append(Recording(w))
        return sinks[0]

    with Run(tmp_path / "logs", tmp_path / "db", RECENT, sink=sink).caught_up(30) as run:
        assert _by_pod(run) == written
    newest = 2 * 2_000 - 1
    older = [s for b in sinks[0].batches for s in b if s < newest - 1_000]
    assert len(older) == 3 * (newest - 1_000)
    # Read a chunk (8 KiB, ~100 lines) at a time: the time handed over never goes
    # back by more than a chunk or two (container after container: by ~3,000 lines).
    assert max(a - b for a, b in zip(older, older[1:], strict=False)) < 300


def test_ordering_of_query_results_is_unchanged(tmp_path: Path) -> None:
    _history(tmp_path / "logs")
    with Run(tmp_path / "logs", tmp_path / "db", RECENT).caught_up(30) as run:
        assert run.writer.flush(10)
        reader = run.store.reader()
        try:
            newest = [seq_of(ln.message) for ln in reader.newest("pod=web-0", 5)]
            oldest = [seq_of(ln.message) for ln in reader.oldest("pod=web-0", 5)]
        finally:
            reader.close()
    assert newest == [3995, 3996, 3997, 3998, 3999]
    assert oldest == [0, 1, 2, 3, 4]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of 8 KiB: many batches, so a crash can fall inside every part of the work."""
    monkeypatch.setattr(read, "CHUNK", 8192)
    monkeypatch.setattr(backfill, "CHUNK", 8192)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("crash_at", [1, 4, 7, 9, 12, 16, 20, 23])
def test_a_crash_anywhere_in_the_backfill_loses_and_doubles_nothing(
    tmp_path: Path, crash_at: int
) -> None:
    written = _history(tmp_path / "logs")
    run = Run(tmp_path / "logs", tmp_path / "db", RECENT, sink=lambda w: Recording(w, crash_at))
    wait_for(lambda: run.collector.failure is not None, 30, "the crash")
    run.collector.join(10)
    assert run.writer.flush(10)
    run.writer.close()
    assert not run.collector.caught_up()  # the crash fell before the end of the backfill
    assert run.store.load_checkpoints(CHECKPOINT_PREFIX)  # committed with what it read
    with Run(tmp_path / "logs", tmp_path / "db", RECENT).caught_up(30) as again:
        assert _by_pod(again) == written


def test_a_range_left_by_a_crash_resumes_from_the_rotated_gzip(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    written = _history(log_dir, pods=1)
    run = Run(log_dir, tmp_path / "db", RECENT, sink=lambda w: Recording(w, 2))
    wait_for(lambda: run.collector.failure is not None, 30, "the crash")
    run.collector.join(10)
    assert run.writer.flush(10)
    run.writer.close()
    saved = list(run.store.load_checkpoints(CHECKPOINT_PREFIX).values())
    assert any("older" in json.loads(v) for v in saved)  # the crash left a range
    # Meanwhile kubelet rotated the live file and compressed it; new lines came.
    c = Container(log_dir, pod="web-0", uid="uid-0")
    c.rotate("20261119-080000")
    c.compress("20261119-080000")
    c.append(lines(range(4_000, 4_100)))
    with Run(log_dir, tmp_path / "db", RECENT).caught_up(30) as again:
        assert _by_pod(again) == {"web-0": written["web-0"] + list(range(4_000, 4_100))}
        assert not again.stats.snapshot().errors


def test_a_range_whose_files_were_deleted_is_reported_lost(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    _history(log_dir, pods=1)
    run = Run(log_dir, tmp_path / "db", RECENT, sink=lambda w: Recording(w, 2))
    wait_for(lambda: run.collector.failure is not None, 30, "the crash")
    run.collector.join(10)
    assert run.writer.flush(10)
    run.writer.close()
    c = Container(log_dir, pod="web-0", uid="uid-0")
    c.rotate("20261119-080000").unlink()  # rotated away and deleted while we were down
    with Run(log_dir, tmp_path / "db", RECENT).caught_up(30) as again:
        errors = again.stats.snapshot().errors
        assert any("older history lost" in e.message for e in errors), errors


def test_a_trace_across_the_recent_start_stays_one_event(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(0, 3_000)))
    frames = [cri(3_000, "stderr", text="java.lang.IllegalStateException: seq=3000")] + [
        cri(3_000 + i, "stderr", text=f"    at com.shop.Cart.add(Cart.java:{i}) seq={3_000 + i}")
        for i in range(1, 600)
    ]
    c.append(b"".join(frames) + lines(range(3_600, 4_500)))
    with Run(tmp_path / "logs", tmp_path / "db", RECENT).caught_up(30) as run:
        got = run.stored()
    traces = [ln for ln in got if "IllegalStateException" in ln.message]
    assert len(traces) == 1 and traces[0].message.count("\n") == 599
    assert [s for ln in got for s in map(seq_of, ln.message.split("\n"))] == list(range(4_500))


def test_recent_start_is_at_an_event_boundary(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    trace = [cri(100, "stderr", text="Traceback (most recent call last):")] + [
        cri(100 + i, "stderr", text=f'  File "x.py", line {i}') for i in range(1, 50)
    ]
    data = lines(range(100)) + b"".join(trace) + lines(range(150, 300))
    path.write_bytes(data)
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        cut = T0 + 120 * 1_000_000  # inside the traceback
        at = recent_start(fd, 0, len(data), cut)
    finally:
        os.close(fd)
    assert data[at:].startswith(cri(150))  # after the trace, not inside it


class HoldAtHistory:
    """A sink in front of the writer that holds the first batch with older history
    (a seq below `recent_from`) until `release` is set."""

    def __init__(self, writer: Writer, recent_from: int) -> None:
        self.writer = writer
        self.recent_from = recent_from
        self.held = threading.Event()
        self.release = threading.Event()

    def submit(self, batch: Batch) -> None:
        if any(seq_of(r.message) < self.recent_from for r in batch.records):
            self.held.set()
            self.release.wait(30)
        self.writer.submit(batch)


@pytest.mark.usefixtures("small_chunks")
def test_the_file_being_backfilled_rotated_compressed_and_deleted_loses_nothing(
    tmp_path: Path,
) -> None:
    log_dir = tmp_path / "logs"
    c = Container(log_dir)
    c.append(lines(range(0, 4_000)))  # one live file: its first 3,000 lines are history
    sinks: list[HoldAtHistory] = []

    def sink(w: Writer) -> HoldAtHistory:
        sinks.append(HoldAtHistory(w, 2_999))
        return sinks[0]

    with Run(log_dir, tmp_path / "db", RECENT, sink=sink) as run:
        wait_for(sinks[0].held.is_set, 30, "the backfill under way")
        c.rotate("20261119-080000")
        c.compress("20261119-080000")  # the file whose history is read: gone by name
        c.append(lines(range(4_000, 4_100)))
        sinks[0].release.set()
        run.caught_up(30)
        assert [s for ln in run.stored() for s in map(seq_of, ln.message.split("\n"))] == list(
            range(4_100)
        )
        assert not run.stats.snapshot().errors
