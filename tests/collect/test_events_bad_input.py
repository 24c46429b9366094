"""Bad input for events and fields, through the real file collector into a real store:
JSON that is not JSON, a 1 MiB JSON object and a bigger one, field names with dots and
unicode, a 10,000-line trace, and a trace that never ends. Everything is kept, nothing
blocks the tail, and what was cut says so."""

from __future__ import annotations

import json
from pathlib import Path

from klogtui.formats.fields import IN_MESSAGE, fields_of
from klogtui.model import Flag, Level, LogLine
from tests.helpers_files import T0, Container, Run, cri, ts_text
from tests.waiting import wait_for

MiB = 1 << 20


def _lines(run: Run, query: str = "") -> list[LogLine]:
    """Every stored line matching `query`, oldest first, once all handed over is stored."""
    assert run.writer.flush(10)
    reader = run.store.reader()
    try:
        return reader.oldest(query, 10**6)
    finally:
        reader.close()


def _write(c: Container, texts: list[str], first_seq: int = 0) -> None:
    """The texts as stdout lines, 1 ms apart from T0 + first_seq ms."""
    c.append(b"".join(cri(first_seq + i, text=t) for i, t in enumerate(texts)))


def test_json_that_is_not_json_is_kept_as_written_without_fields(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    bad = [
        '{"level":"error","msg":"unterminated string}',
        '{"level":"info", "msg": "trailing comma",}',
        "{not json at all}",
        '{"msg":"cut short"',
        '["an","array"]',
        "{}",
    ]
    good = '{"level":"warn","msg":"fine","status":503}'
    _write(c, [*bad, good, "after"])
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        got = _lines(run)
    assert [ln.message for ln in got] == [*bad, good, "after"]
    assert [fields_of(ln.message, ln.fields) for ln in got] == [None] * 6 + [
        {"status": 503},
        None,
    ]
    # The valid object's fields are read from its message (no copy).
    assert (got[len(bad)].fields, Level(got[len(bad)].level)) == (IN_MESSAGE, Level.WARN)
    assert all(ln.flags == 0 for ln in got)


def test_a_1_mib_json_object_is_kept_whole_and_a_bigger_one_cut_with_a_marker(
    tmp_path: Path,
) -> None:
    c = Container(tmp_path / "logs")
    head = '{"level":"error","msg":"dump","blob":"'
    whole = head + "x" * (MiB - len(head) - 2) + '"}'  # exactly the 1 MiB cap
    over = head + "y" * (3 * MiB) + '"}'
    assert len(whole.encode()) == MiB
    _write(c, [whole, over, "after"])
    with Run(c.log_dir, tmp_path / "db").caught_up(30) as run:
        got = _lines(run)
    assert [ln.message[:40] for ln in got] == [whole[:40], over[:40], "after"]
    kept, cut, after = got
    assert (kept.message, kept.flags, kept.level) == (whole, 0, Level.ERROR)
    assert fields_of(kept.message, kept.fields) == {"blob": "x" * (MiB - len(head) - 2)}
    # Past the cap: its first MiB is kept, marked, and it has no fields (no blow-up).
    assert cut.message.startswith(over[: MiB - 10])
    assert cut.message.endswith(f" …[truncated {len(over) - MiB} bytes]")
    assert cut.flags == Flag.TRUNCATED
    assert fields_of(cut.message, cut.fields) is None
    assert (after.message, after.flags) == ("after", 0)


def test_field_names_with_dots_and_unicode_are_kept_as_written(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    as_json = json.dumps(
        {"level": "info", "msg": "served", "http.route": "/api/ü", "ключ": 1, "ü.x": {"a.b": 2}},
        ensure_ascii=False,
    )
    as_logfmt = 'level=warn msg="slow query" db.statement="select 1" grüße=hallo k8s.io/name=x'
    _write(c, [as_json, as_logfmt])
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        got = _lines(run)
        found = _lines(run, "ключ")
    assert [ln.message for ln in got] == [as_json, as_logfmt]
    assert [Level(ln.level) for ln in got] == [Level.INFO, Level.WARN]
    assert fields_of(got[0].message, got[0].fields) == {
        "http.route": "/api/ü",
        "ключ": 1,
        "ü.x": {"a.b": 2},
    }
    assert fields_of(got[1].message, got[1].fields) == {
        "db.statement": "select 1",
        "grüße": "hallo",
        "k8s.io/name": "x",
    }
    assert [ln.message for ln in found] == [as_json]


def test_a_10000_line_trace_is_cut_by_the_caps_and_every_line_is_kept(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    trace = ["ERROR 1 --- [main] c.e.App : batch failed", "java.lang.RuntimeException: boom"]
    trace += [f"\tat com.example.Batch.step{i}(Batch.java:{i})" for i in range(9998)]
    _write(c, [*trace, "INFO next"])
    with Run(c.log_dir, tmp_path / "db").caught_up(30) as run:
        got = _lines(run)
        hits = _lines(run, "step9997")
    pieces, last = got[:-1], got[-1]
    assert [ln.message.count("\n") + 1 for ln in pieces] == [1000] * 10
    assert [ln.flags for ln in pieces] == [Flag.CUT] + [Flag.CUT | Flag.CONTINUED] * 8 + [
        Flag.CONTINUED
    ]
    assert "\n".join(ln.message for ln in pieces) == "\n".join(trace)
    assert {Level(ln.level) for ln in pieces} == {Level.ERROR}
    # Each piece has its first line's time: the pieces are in time order.
    assert [ln.ts for ln in pieces] == [T0 + i * 1000 * 1_000_000 for i in range(10)]
    assert (last.message, last.flags) == ("INFO next", 0)
    assert [ln.id for ln in hits] == [pieces[-1].id]


def test_a_trace_that_never_ends_does_not_hold_back_the_tail(tmp_path: Path) -> None:
    """The trace keeps growing a line at a time (one per poll below) and never ends:
    its first lines become searchable while it still grows."""
    c = Container(tmp_path / "logs")
    head = ["ERROR 1 --- [main] c.e.Loop : stuck", "java.lang.IllegalStateException: loop"]
    _write(c, head)
    written = list(head)

    def grow_until_the_head_is_stored(run: Run) -> bool:
        frame = f"\tat com.example.Loop.spin{len(written)}(Loop.java:1)"
        _write(c, [frame], first_seq=len(written))
        written.append(frame)
        return bool(_lines(run, "IllegalStateException"))

    with Run(c.log_dir, tmp_path / "db") as run:
        # Stored while no line that ends the trace was written.
        wait_for(lambda: grow_until_the_head_is_stored(run), 20, "the trace's first lines")
        # More frames keep coming after that; then a line that ends the trace.
        for _ in range(3):
            grow_until_the_head_is_stored(run)
        end = len(written)
        _write(c, ["INFO recovered"], first_seq=end)
        wait_for(lambda: _lines(run, "recovered"), 10, "the line after the trace")
        got = _lines(run)
        # since: follows each piece's first line: from the second piece's time on, the
        # head (older) is left out and nothing after it is.
        since = _lines(run, f"since:{ts_text(got[1].ts)}")
    events, after = got[:-1], got[-1]
    assert len(events) >= 2  # the frames written after the head was stored
    assert "\n".join(ln.message for ln in events) == "\n".join(written)
    assert events[0].message.startswith("\n".join(head))
    assert events[0].flags == 0 and events[0].ts == T0
    assert all(ln.flags == Flag.CONTINUED for ln in events[1:])  # the rest, not lost
    assert {Level(ln.level) for ln in events} == {Level.ERROR}
    assert (after.message, after.ts) == ("INFO recovered", T0 + end * 1_000_000)
    assert [ln.id for ln in since] == [ln.id for ln in got[1:]]
