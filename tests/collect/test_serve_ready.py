"""Readiness with recent first: `/readyz` of `klogtui collect --listen` answers 200 once
every container's newest lines are committed, while the older history still loads; the
answer and `/metrics` say how much of it is loaded."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from pathlib import Path

from klogtui.collect.runner import Running
from klogtui.model import Batch
from klogtui.serve.server import Api, ServeOptions
from klogtui.store import Writer
from tests.api_node import get
from tests.helpers_files import FAST, Container, Run, lines, seq_of
from tests.waiting import wait_for

# Lines are 1 ms apart: a window of 1 s is each container's newest 1,000 lines.
RECENT = replace(FAST, recent_window_s=1.0, recent_min_bytes=10_000, batch_lines=300)
NEWEST = 3_999  # each container: seqs 0-1,999 in its rotated file, 2,000-3,999 live
OLDER = NEWEST - 1_000  # lines before this one are older history


class HoldHistory:
    """A sink in front of the writer that holds every batch with older history in it
    until released: the newest lines go through, the older ones wait."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.released = threading.Event()

    def submit(self, batch: Batch) -> None:
        if any(seq_of(r.message) < OLDER for r in batch.records):
            self.released.wait(30)
        self.writer.submit(batch)


def _loaded_ratio(port: int) -> float:
    text = get(port, "/metrics").body.decode()
    found = re.search(r"^klogtui_history_loaded_ratio ([0-9.e+-]+)$", text, re.M)
    assert found, text
    return float(found.group(1))


def test_ready_once_the_newest_lines_are_committed_while_the_history_loads(
    tmp_path: Path,
) -> None:
    for p in range(2):
        c = Container(tmp_path / "logs", pod=f"web-{p}", uid=f"uid-{p}")
        c.append(lines(range(0, 2_000)))
        c.rotate("20261119-074640")
        c.append(lines(range(2_000, NEWEST + 1)))
    holds: list[HoldHistory] = []

    def sink(w: Writer) -> HoldHistory:
        holds.append(HoldHistory(w))
        return holds[0]

    run = Run(tmp_path / "logs", tmp_path / "db", RECENT, sink=sink)
    running = Running(run.stats, run.writer, [run.collector])
    api = Api(ServeOptions("127.0.0.1", 0), run.store.path, None)
    api.start(running)
    port = api.address[1]
    try:
        wait_for(lambda: get(port, "/readyz").status == 200, 30, "ready")
        said = get(port, "/readyz").body.decode()
        assert said.startswith("ok") and "older history loading" in said, said
        assert 0 <= _loaded_ratio(port) < 1
        # What a ready node answers: every container's newest lines, none older.
        answer = get(port, "/api/v1/lines", {"limit": "5000"}).lines()
        seqs = sorted(seq_of(x["message"]) for x in answer)
        assert seqs[-2:] == [NEWEST, NEWEST] and min(seqs) >= OLDER

        holds[0].released.set()
        wait_for(run.collector.caught_up, 30, "the older history loaded")
        assert run.writer.flush(10)
        assert get(port, "/readyz").body.decode().strip() == "ok"
        assert _loaded_ratio(port) == 1
    finally:
        holds[0].released.set()
        api.stop()
        assert running.stop(10)
