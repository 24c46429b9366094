"""Stack traces and panics stored as one event each by the file collector: the corpus
interleaved across streams and containers, a crash at every line of a file (exactly
once), a trace cut by rotation, fields and levels of structured lines."""

from __future__ import annotations

from pathlib import Path

from klogtui.formats.fields import fields_of
from klogtui.model import Flag, Level, Record
from tests.corpus import SHAPES, T0, cri_file, events_of, messages_by_stream
from tests.helpers_files import Container, Parts, Run
from tests.waiting import wait_for

ALL = sorted(SHAPES)


def _by_stream(records: list[Record]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {1: [], 2: []}
    for r in records:
        out[r.stream].append(r.message)
    return out


def test_the_corpus_in_two_containers_is_stored_as_its_events(tmp_path: Path) -> None:
    a = Container(tmp_path / "logs", pod="a")
    b = Container(tmp_path / "logs", pod="b")
    truth_a = events_of(ALL)
    truth_b = events_of(reversed(ALL))
    a.append(cri_file(truth_a))
    b.append(cri_file(truth_b))
    with Run(a.log_dir, tmp_path / "db").caught_up() as run:
        rows = run.stored()
        for c, truth in ((a, truth_a), (b, truth_b)):
            mine = [r for r in rows if r.key == c.key()]
            got = {s: [r.message for r in mine if r.stream == s] for s in (1, 2)}
            assert got == messages_by_stream(truth)
        # Live: a trace written after the start is one event too.
        tail = SHAPES["spring"][1]
        a.append(cri_file([tail], start_ns=T0 + 10**12))
        wait_for(lambda: len(run.stored()) == len(rows) + 1, what="the live trace")
        last = run.stored()[-1]
        assert (last.message, last.flags) == (tail.message, 0)


def test_levels_of_events_come_from_their_first_line(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    truth = events_of(ALL)
    c.append(cri_file(truth))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.writer.flush(10)  # what was handed over is committed
        reader = run.store.reader()
        try:
            lines = reader.oldest("", 10**6)
        finally:
            reader.close()
        levels = {ln.message: Level(ln.level) for ln in lines}
        assert {e.message: e.level for e in truth} == levels


def _split_one_line_into_fragments(data: bytes) -> bytes:
    """The Spring trace's exception line written as a CRI partial (P) and its end (F)."""
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if b"java.lang.IllegalStateException" in line:
            ts, stream, _, text = line.split(b" ", 3)
            lines[i] = b"\n".join(
                [b" ".join([ts, stream, b"P", text[:10]]), b" ".join([ts, stream, b"F", text[10:]])]
            )
    return b"\n".join(lines)


def test_a_crash_after_any_line_stores_every_event_once(tmp_path: Path) -> None:
    truth = events_of(ALL)
    data = _split_one_line_into_fragments(cri_file(truth))
    cuts = [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    want = messages_by_stream(truth)
    for n, cut in enumerate(cuts):
        c = Container(tmp_path / str(n))
        c.append(data[:cut])
        first = Parts()
        try:
            f = first.track(c.path())
            first.reader.read(f)  # events still open stay open: the crash comes now
            committed = first.batch.take()
        finally:
            first.close()
        assert committed is not None
        c.append(data[cut:])
        second = Parts(dict(committed.checkpoints))
        try:
            second.read(second.track(c.path()))
            records = list(committed.records) + second.batch.records
        finally:
            second.close()
        assert _by_stream(records) == want, f"crash after byte {cut}"


def test_a_trace_cut_by_rotation_is_kept_whole_in_two_events(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    trace = SHAPES["spring"][1]
    head, rest = trace.lines[:5], trace.lines[5:]
    data = cri_file([trace])
    split = sum(len(line) for line in data.split(b"\n")[:5]) + 5
    c.append(data[:split])
    c.rotate("20261124-100000")
    c.append(data[split:])
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        rows = run.stored()
    assert [(r.message, r.flags) for r in rows] == [
        ("\n".join(head), 0),
        ("\n".join(rest), Flag.CONTINUED),
    ]


def test_structured_lines_keep_their_fields_and_level(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    truth = events_of(ALL)
    c.append(cri_file(truth))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.writer.flush(10)  # what was handed over is committed
        reader = run.store.reader()
        try:
            lines = reader.oldest("", 10**6)
            status = reader.newest("503", 10)
        finally:
            reader.close()
    got = {ln.message: fields_of(ln.message, ln.fields) for ln in lines}
    assert got == {e.message: e.fields for e in truth}
    assert [ln.message for ln in status] == [SHAPES["zap_logrus"][1].message]
