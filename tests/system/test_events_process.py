"""Events through real klogtui processes: `klogtui collect` killed with SIGKILL in the
middle of a backfill of traces stores each event once, and `klogtui query -o jsonl`
gives an event as written with its line count and fields."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from klogtui.collect.files.identity import CHECKPOINT_PREFIX
from klogtui.formats.fields import IN_MESSAGE, stored_fields
from klogtui.model import Batch, Level, Record, SourceKey
from klogtui.store import Store
from tests.corpus import SHAPES, T0, cri_file, events_of, messages_by_stream
from tests.helpers_faults import collect_proc, committed_lines
from tests.helpers_files import Container, stored
from tests.store_helpers import assert_index_exact
from tests.waiting import wait_for

ALL = sorted(SHAPES)


def test_sigkill_during_the_backfill_stores_each_event_once(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    db = tmp_path / "db"
    c = Container(log_dir)
    truth = events_of(ALL) * 600  # 18000 events, ~80000 lines, both streams interleaved
    c.append(cri_file(truth))
    proc = collect_proc(log_dir, db)
    try:
        wait_for(lambda: committed_lines(db) > 0, 60, "a first commit")  # inside it
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    killed_at = committed_lines(db)
    assert killed_at < len(truth), "killed after the backfill: nothing tested"
    proc = collect_proc(log_dir, db)
    try:
        wait_for(lambda: committed_lines(db) >= len(truth), 60, "every event")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    store = Store.open(db)
    rows = stored(store)
    assert store.load_checkpoints(CHECKPOINT_PREFIX)
    got = {s: [r.message for r in rows if r.stream == s] for s in (1, 2)}
    assert got == messages_by_stream(truth), f"killed after {killed_at} events"


def _write(db: Path, records: list[Record]) -> None:
    store = Store.open(db)
    writer = store.start_writer()
    try:
        writer.submit(Batch(records))
        assert writer.flush(30)
    finally:
        writer.close()


def _jsonl(db: Path, *query: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", *query, "--db", str(db), "-o", "jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_jsonl_gives_an_event_as_written_with_its_line_count_and_fields(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    key = SourceKey("shop", "web", "app", 0, "uid")
    trace = SHAPES["spring"][1]
    zap = SHAPES["zap_logrus"][1]
    coloured = "\x1b[31mERROR\x1b[0m Failed to resolve"
    _, fields = stored_fields(zap.message, 0)
    assert fields == IN_MESSAGE  # read back from the message
    logfmt = SHAPES["logfmt"][1]
    logfmt_level, logfmt_fields = stored_fields(logfmt.message, 0)
    _write(
        db,
        [
            Record(T0, key, 1, trace.message, Level.ERROR, 0),
            Record(T0 + 1, key, 2, zap.message, Level.ERROR, 0, fields),
            Record(T0 + 2, key, 1, coloured, Level.ERROR, 0),
            Record(T0 + 3, key, 1, logfmt.message, logfmt_level, 0, logfmt_fields),
        ],
    )
    got = _jsonl(db)
    assert [o["message"] for o in got] == [trace.message, zap.message, coloured, logfmt.message]
    assert [o.get("lines") for o in got] == [len(trace.lines), None, None, None]
    assert [o.get("fields") for o in got] == [None, zap.fields, None, logfmt.fields]
    assert [o["level"] for o in got] == ["error", "error", "error", "error"]
    assert [o["message"] for o in _jsonl(db, "ERROR")] == [o["message"] for o in got]
    assert [o["message"] for o in _jsonl(db, "SQLException")] == [trace.message]
    assert_index_exact(db)
