"""Bad input through the real file collector into a real store: NUL bytes, invalid
UTF-8, huge lines, bad and backwards timestamps, junk in the log directory, files
that cannot be read, and a fuzz of whole files. Nothing crashes, nothing valid is
lost, what cannot be parsed is kept raw and flagged.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klogtui.formats import LineDecoder
from klogtui.model import Flag, Stream
from klogtui.store import Store
from tests.helpers_faults import collect_argv
from tests.helpers_files import (
    FAST,
    T0,
    Container,
    Run,
    cri,
    lines,
    open_paths,
    seq_of,
    stored,
    stored_seqs,
    ts_text,
)
from tests.waiting import wait_for

MiB = 1 << 20


def _messages(run: Run) -> list[tuple[str, int]]:
    return [(s.message, s.flags) for s in run.stored()]


# -- bytes a terminal or a database might choke on --------------------------------------


def test_nul_bytes_are_kept_and_nothing_after_them_is_lost(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    hole = b"\x00" * 4096  # what a crash can leave in a file: a run of zeros...
    c.append(
        cri(0, text="seq=0 a\x00b")
        + cri(1, text="seq=1 \x00")
        + hole
        + cri(2)  # ...glued to the next line, which becomes malformed
        + cri(3)
        + b"\x00\n"
        + cri(4)
    )
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        got = _messages(run)
        glued = ("\x00" * 4096 + cri(2).decode()[:-1], Flag.MALFORMED)
        assert sorted(got) == sorted(
            [
                ("seq=0 a\x00b", 0),
                ("seq=1 \x00", 0),
                glued,
                ("seq=3", 0),
                ("\x00", Flag.MALFORMED),
                ("seq=4", 0),
            ]
        )
        # Full-text search still finds the lines around them.
        reader = run.store.reader()
        try:
            assert [seq_of(ln.message) for ln in reader.oldest("seq", 10) if ln.flags == 0] == [
                0,
                1,
                3,
                4,
            ]
        finally:
            reader.close()


def test_invalid_utf8_is_stored_readably(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(
        cri(0, text="seq=0 caf\xe9")  # valid UTF-8 (é)
        + cri(1).replace(b"seq=1", b"seq=1 \xff\xfe \xc3( \xed\xa0\x80 \xf0\x9f")
        + b"\xff\xff"
        + cri(2)[2:]  # invalid bytes in the timestamp: malformed, kept
        + cri(3)
    )
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        got = _messages(run)
        assert ("seq=0 café", 0) in got
        assert ("seq=1 \\xff\\xfe \\xc3( \\xed\\xa0\\x80 \\xf0\\x9f", 0) in got
        assert ("\\xff\\xff" + cri(2).decode()[2:-1], Flag.MALFORMED) in got
        assert ("seq=3", 0) in got and len(got) == 4


def test_invalid_utf8_in_a_docker_json_file(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")

    def rec(s: int, log: str) -> bytes:
        obj = {"log": log, "stream": "stdout", "time": ts_text(T0 + s * 1_000_000)}
        return json.dumps(obj).encode() + b"\n"

    c.append(
        rec(0, "seq=0\n")
        + rec(1, "seq=1 lone \ud800 surrogate\n")  # a JSON escape no UTF-8 can hold
        + rec(2, "seq=2 raw XX\n").replace(b"XX", b"\xff\xfe")  # not JSON any more
        + rec(3, "seq=3\n")
    )
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        got = _messages(run)
        assert sorted(got) == sorted(
            [
                ("seq=0", 0),
                ("seq=1 lone \\xed\\xa0\\x80 surrogate", 0),
                (
                    rec(2, "seq=2 raw XX\n").replace(b"XX", b"\\xff\\xfe").decode()[:-1],
                    Flag.MALFORMED,
                ),
                ("seq=3", 0),
            ]
        )


# -- huge lines -------------------------------------------------------------------------


def _truncated(text: str, total: int) -> str:
    """What the store keeps of a message of `total` bytes starting with `text`."""
    return text[:MiB] + f" …[truncated {total - MiB} bytes]"


def test_1mib_and_3mib_lines_are_capped_and_what_follows_is_kept(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    exact = "seq=1 " + "a" * (MiB - 6)  # exactly the cap: kept whole
    over = "seq=2 " + "b" * (MiB - 5)  # one byte over
    huge = "seq=3 " + "c" * (3 * MiB - 6)
    split = "seq=5 " + "d" * (3 * MiB - 6)  # containerd's 16 KiB P fragments
    fragments = [split[i : i + 16384] for i in range(0, len(split), 16384)]
    c.append(
        cri(0)
        + cri(1, text=exact)
        + cri(2, text=over)
        + cri(3, text=huge)
        + cri(4)
        + b"".join(cri(5, tag="P", text=f) for f in fragments[:-1])
        + cri(5, tag="F", text=fragments[-1])
        + cri(6)
    )
    with Run(c.log_dir, tmp_path / "db").caught_up(30) as run:
        got = _messages(run)
        assert got == [
            ("seq=0", 0),
            (exact, 0),
            (_truncated(over, MiB + 1), Flag.TRUNCATED),
            (_truncated(huge, 3 * MiB), Flag.TRUNCATED),
            ("seq=4", 0),
            (_truncated(split, 3 * MiB), Flag.TRUNCATED),
            ("seq=6", 0),
        ]


def test_3mib_line_written_slowly_while_tailing(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(cri(0))
    line = cri(1, text="seq=1 " + "e" * (3 * MiB))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        with open(c.path(), "ab", buffering=0) as fh:
            for i in range(0, len(line), 256 << 10):
                fh.write(line[i : i + (256 << 10)])
                time.sleep(0.01)
            fh.write(cri(2))
        run.wait_seqs([0, 1, 2])
        assert [s.flags for s in run.stored()] == [0, Flag.TRUNCATED, 0]


def test_9mib_line_without_fragments_is_cut_and_nothing_after_is_lost(tmp_path: Path) -> None:
    # Past 8 MiB without "\n" the collector stops waiting for the end of the line and
    # cuts it: the first record is capped and flagged; the rest cannot be parsed.
    c = Container(tmp_path / "logs")
    c.append(cri(0) + cri(1, text="seq=1 " + "f" * (9 * MiB)) + cri(2))
    with Run(c.log_dir, tmp_path / "db").caught_up(30) as run:
        got = run.stored()
        assert [(seq_of(s.message), s.flags) for s in got if s.message.startswith("seq=")] == [
            (0, 0),
            (1, Flag.TRUNCATED),
            (2, 0),
        ]
        rest = [s for s in got if not s.message.startswith("seq=")]
        assert [s.flags for s in rest] == [Flag.MALFORMED | Flag.TRUNCATED]
        assert rest[0].message.startswith("f" * 1000)


def test_file_shorter_than_one_line_is_read_once_finished(tmp_path: Path) -> None:
    """A writer that died in its first line leaves a file without any "\\n" (Vector
    never reads such a file). Once no one writes to it (a newer instance started, or
    the pod was deleted) it is stored, flagged, once, across restarts too."""
    slow = dataclasses.replace(FAST, partial_grace_s=0.6, rescan_interval_s=1.0)
    c = Container(tmp_path / "logs")
    doomed = Container(tmp_path / "logs", pod="doomed", uid="uid-d")
    c.append(cri(0, text="seq=0 died mid-line")[:-1])
    doomed.append(lines(range(10)))
    with Run(c.log_dir, tmp_path / "db", slow).caught_up() as run:
        time.sleep(0.6)
        assert run.seqs(c.key(0)) == []  # still its live file: the line may go on
        c.append(lines(range(1, 3)), restart=1)
        run.wait_seqs([0], c.key(0))
        run.wait_seqs([1, 2], c.key(1))
        doomed.append(cri(10, text="seq=10 half")[:-1], restart=1)
        # (a file deleted before anyone opened it is gone for everyone)
        wait_for(lambda: str(doomed.path(1)) in open_paths(), what="opened")
        shutil.rmtree(doomed.pod_dir)
        run.wait_seqs([10], doomed.key(1))
        flagged = {s.message: s.flags for s in run.stored() if s.flags}
        assert flagged == {
            "seq=0 died mid-line": Flag.UNTERMINATED,
            "seq=10 half": Flag.UNTERMINATED,
        }
        # Closed once idle, listed again by rescans: still the same file, not a new one.
        wait_for(lambda: run.stats.files_open == 1, what="finished files closed")
        time.sleep(2.5)
        assert run.seqs(c.key(0)) == [0]
    with Run(c.log_dir, tmp_path / "db", slow).caught_up() as run:
        time.sleep(1.2)  # past the grace period: the short file is looked at again
        assert run.seqs(c.key(0)) == [0]
        assert len(run.stored()) == 3 + 11


# -- timestamps ---------------------------------------------------------------------------

BAD_STAMPS = [
    "2026-13-01T00:00:00Z",  # month 13
    "2026-02-30T00:00:00Z",  # February 30
    "2026-01-01T24:00:00Z",  # hour 24
    "2026-01-01T00:00:00",  # no zone
    "2026-01-01T00:00:00+25:00",  # no such offset
    "2026-01-01 00:00:00Z",  # a space: the fields shift
    "yesterday",
    "",
]
# Not representable in 64-bit nanoseconds since 1970.
OUT_OF_RANGE_STAMPS = ["9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z"]


def _bad_timestamps_are_kept_raw(tmp_path: Path, stamps: list[str]) -> None:
    c = Container(tmp_path / "logs")
    raw = [f"{s} stdout F seq={100 + i} bad time".encode() for i, s in enumerate(stamps)]
    c.append(cri(0) + b"".join(r + b"\n" + cri(i + 1) for i, r in enumerate(raw)))
    before = time.time_ns()
    run = Run(c.log_dir, tmp_path / "db")
    try:
        run.caught_up()
        after = time.time_ns()
        assert run.writer.flush(2), "the store's writer is stuck"
        got = stored(run.store)
        good = [s for s in got if not s.flags]
        bad = [s for s in got if s.flags]
        assert [seq_of(s.message) for s in good] == list(range(len(raw) + 1))
        assert sorted(s.message.encode() for s in bad) == sorted(raw)
        # Kept as read, stamped with their arrival time, no stream.
        assert {(s.flags, s.stream) for s in bad} == {(Flag.MALFORMED, Stream.NONE)}
        assert all(before <= s.ts <= after for s in bad)
        assert run.stats.snapshot().malformed == len(raw)
    finally:
        run.collector.stop()
        run.collector.join(5)
        run.writer.close(2)


def test_bad_timestamps_are_kept_raw_with_their_arrival_time(tmp_path: Path) -> None:
    _bad_timestamps_are_kept_raw(tmp_path, BAD_STAMPS)


def test_out_of_range_timestamps_are_kept_raw(tmp_path: Path) -> None:
    _bad_timestamps_are_kept_raw(tmp_path, OUT_OF_RANGE_STAMPS)


def test_timestamps_after_2059_across_a_restart(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(b"2100-01-01T00:00:00Z stdout F seq=0\n")
    Run(c.log_dir, tmp_path / "db").caught_up().stop()
    c.append(b"2100-01-01T00:00:01Z stdout F seq=1\n" + cri(2))
    run = Run(c.log_dir, tmp_path / "db")
    try:
        run.caught_up()
        assert run.writer.flush(2), "the store's writer is stuck"
        assert sorted(stored_seqs(run.store)) == [0, 1, 2]
    finally:
        run.collector.stop()
        run.collector.join(5)
        run.writer.close(2)


def test_timestamps_going_backwards_are_all_stored_in_time_order(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    ms = 1_000_000
    # A clock stepped back an hour, stderr stamped before stdout, then steady again.
    stamps = [T0 + s * ms for s in range(0, 50)]
    stamps += [T0 - 3600_000 * ms + s * ms for s in range(50, 100)]
    stamps += [T0 + 10 * ms - s * ms for s in range(100, 110)]  # strictly backwards
    stamps += [T0 + 100_000 * ms + s * ms for s in range(110, 130)]
    data = b"".join(
        f"{ts_text(ts)} {'stderr' if s % 3 else 'stdout'} F seq={s}\n".encode()
        for s, ts in enumerate(stamps)
    )
    c.append(data[: len(data) // 2])
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.append(data[len(data) // 2 :])
        wait_for(lambda: len(run.seqs()) == len(stamps), what="every line")
        got = run.stored()
        assert sorted(seq_of(s.message) for s in got) == list(range(len(stamps)))
        assert [s.ts for s in got] == sorted(stamps)
        assert all(stamps[seq_of(s.message)] == s.ts for s in got)
        reader = run.store.reader()
        try:
            newest = reader.newest("stream=stderr", 1000)
            assert [ln.ts for ln in newest] == sorted(t for s, t in enumerate(stamps) if s % 3)
        finally:
            reader.close()


# -- the log directory ------------------------------------------------------------------


def _junk(log_dir: Path, c: Container, tag: str) -> None:
    """Files and directories a log directory can hold that are not container logs,
    around and inside container c's directory."""
    pods = log_dir / "pods"
    (pods / f"README-{tag}.md").write_text("not a pod")
    (pods / f"not-a-pod-{tag}" / "app").mkdir(parents=True)
    (pods / f"not-a-pod-{tag}" / "app" / "0.log").write_bytes(cri(999))
    (pods / f"a_b_c_d-{tag}").mkdir()  # too many fields
    c.dir.mkdir(parents=True, exist_ok=True)
    for name in (
        "notes.txt",
        "0.log.bak",
        "x.log",
        "0.log.20261119-070000.zst",
        ".0.log.swp",
        "0.log.tmp",
        "-1.log",
        "00.log.1",
        "0.log.2026",
    ):
        (c.dir / name).write_bytes(cri(999))
    (c.dir / "nested" / "0.log").parent.mkdir()
    (c.dir / "nested" / "0.log").write_bytes(cri(999))
    (c.pod_dir / "file-not-a-container").write_bytes(cri(999))
    links = log_dir / "containers"
    links.mkdir(exist_ok=True)
    (links / f"README-{tag}").write_text("x")
    (links / f"web_shop_app-{tag}abc.log").write_bytes(cri(999))  # a file, not a link
    (log_dir / f"journal-{tag}").mkdir()
    os.mkfifo(log_dir / f"fifo-{tag}")


def test_unknown_files_in_the_log_dir_are_ignored(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    c = Container(log_dir)
    c.append(lines(range(10)))
    _junk(log_dir, c, "a")
    with Run(log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs() == list(range(10))
        c2 = Container(log_dir, pod="web-2", uid="uid-2")
        _junk(log_dir, c2, "b")  # and more of it while running
        c.append(lines(range(10, 20)))
        c2.append(lines(range(100, 110)))
        run.wait_seqs(list(range(20)), c.key())
        run.wait_seqs(list(range(100, 110)), c2.key())
        assert run.stats.snapshot().errors == ()
        assert run.collector.failure is None


def test_unreadable_files_are_reported_once_and_skipped(tmp_path: Path) -> None:
    """A FIFO and a directory named like logs, and a file whose reads fail with EIO
    (a link to /proc/self/mem): each reported once however often it changes, and
    the readable file next to them keeps being collected."""
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)
    os.mkfifo(c.path(0))  # opening it would block until a writer came
    c.path(1).mkdir()
    c.path(2).symlink_to("/proc/self/mem")  # a regular file whose reads fail
    c.append(lines(range(10)), restart=3)
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs(c.key(3)) == list(range(10))
        for i in range(10, 20):
            c.append(lines([i]), restart=3)
            os.utime(c.path(0))  # events on the bad ones, and rescans
            os.chmod(c.path(0), 0o600 + i % 2)
            (c.dir / f"junk-{i}").write_bytes(b"")
            time.sleep(0.01)
        run.wait_seqs(list(range(20)), c.key(3))
        errors = sorted((Path(e.where).name, e.message) for e in run.stats.snapshot().errors)
        assert errors == [
            ("0.log", "not a regular file; skipped"),
            ("1.log", "not a regular file; skipped"),
            ("2.log", "cannot read: Input/output error; skipped"),
        ]
        assert run.collector.failure is None


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_permission_denied_as_root_without_dac_override(tmp_path: Path) -> None:
    """chmod 000 does not stop root; without CAP_DAC_OVERRIDE it does. `collect --once`
    reports the file once, stores the rest, exits 0; once readable it is read."""
    c = Container(tmp_path / "logs")
    c.append(lines(range(10)))
    c.append(lines(range(100, 110)), restart=1)
    c.path(0).chmod(0)
    db = tmp_path / "store.db"
    argv = [
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search",
        *collect_argv(c.log_dir, db, "--once"),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"klogtui: {c.path(0)}: cannot open: Permission denied; skipped\n"
    assert stored_seqs(Store.open(db)) == list(range(100, 110))
    c.path(0).chmod(0o644)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert sorted(stored_seqs(Store.open(db))) == list(range(10)) + list(range(100, 110))


# -- fuzz: whole files through the collector --------------------------------------------

_STAMP = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: (
        f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}".encode()
    ),
    st.integers(1971, 2200),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", ".5", ".123456789", ".0001234567891"]),
    st.sampled_from(["Z", "z", "+01:00", "-05:30", "+00:00"]),
)
_TEXT = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" "))
_CRI_LINE = st.builds(
    lambda ts, stream, tag, body: b" ".join((ts, stream, tag, body)),
    _STAMP,
    st.sampled_from([b"stdout", b"stderr", b"stdin", b""]),
    st.sampled_from([b"F", b"P", b"P", b"P:x", b"F:y", b"", b"X"]),
    _TEXT,
)
_DOCKER_LINE = st.builds(
    lambda log, nl, stream, ts: json.dumps(
        {"log": log + ("\n" if nl else ""), "stream": stream, "time": ts.decode()}
    ).encode(),
    st.text(max_size=40),
    st.booleans(),
    st.sampled_from(["stdout", "stderr", "other"]),
    _STAMP,
)


def _mutate(data: tuple[bytes, int, bytes]) -> bytes:
    line, at, junk = data
    at = at % (len(line) + 1)
    return (line[:at] + junk + line[at + len(junk) :]).replace(b"\n", b" ")


_LINE = st.one_of(
    _CRI_LINE,
    _DOCKER_LINE,
    _TEXT,
    st.tuples(st.one_of(_CRI_LINE, _DOCKER_LINE), st.integers(0, 200), st.binary(max_size=4)).map(
        _mutate
    ),
)
# A file: well-formed-ish lines and raw blobs with newlines of their own, any order;
# it may end without a newline.
_FILE = st.builds(
    lambda parts, tail: b"".join(parts) + tail,
    st.lists(st.one_of(_LINE.map(lambda b: b + b"\n"), st.binary(max_size=200)), max_size=25),
    st.one_of(st.just(b""), _TEXT),
)


def _expected(data: bytes) -> list[tuple[str, int]]:
    """What a decoder fed the file line by line yields, unfinished end included."""
    decoder = LineDecoder()
    out = []
    *complete, tail = data.split(b"\n")
    for raw in complete:
        out += [(p.message, p.flags) for p in decoder.feed(raw, 0)]
    if tail:
        out += [(p.message, p.flags | Flag.UNTERMINATED) for p in decoder.feed(tail, 0)]
    out += [(p.message, p.flags) for p in decoder.flush(0)]
    return out


@pytest.fixture
def fuzz_run(tmp_path: Path) -> Iterator[Run]:
    (tmp_path / "logs" / "pods").mkdir(parents=True)
    with Run(
        tmp_path / "logs", tmp_path / "db", dataclasses.replace(FAST, partial_grace_s=0.1)
    ) as run:
        yield run.caught_up()


FUZZ_EXAMPLES = [
    pytest.param(30, id="30"),
    pytest.param(600, id="600", marks=pytest.mark.chaos),
]


@pytest.mark.parametrize("examples", FUZZ_EXAMPLES)
def test_fuzzed_files_through_the_collector(fuzz_run: Run, examples: int) -> None:
    """Random files (CRI, Docker, mutated lines, raw bytes with random newlines) each in
    a finished container instance: the collector stores exactly the messages a decoder
    reading the file line by line yields (as many, the same), and never fails."""
    run = fuzz_run
    numbers = count()
    expected_all: dict[str, list[tuple[str, int]]] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=examples < 100,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(_FILE)
    def check(data: bytes) -> None:
        n = next(numbers)
        c = Container(run.log_dir, namespace="fuzz", pod=f"f{n}", uid=f"u{n}")
        c.append(data)
        c.append(cri(0, text="sentinel"), restart=1)  # 0.log is finished: flush its end
        want = _expected(data)
        expected_all[c.pod] = want
        query = f"ns=fuzz pod={c.pod}"

        def done() -> bool:
            assert run.collector.failure is None, run.collector.failure
            assert run.writer.flush(10)
            reader = run.store.reader()
            try:
                return len(reader.newest(query, 10_000)) >= len(want) + 1
            finally:
                reader.close()

        wait_for(done, timeout=5, what=f"{len(want)} lines of {c.pod}")
        got = _stored_of(run, c.pod)
        assert sorted(got) == sorted(want)

    check()
    time.sleep(0.3)  # nothing more may arrive for any of them
    for pod, want in expected_all.items():
        assert sorted(_stored_of(run, pod)) == sorted(want), pod
    assert run.stats.snapshot().errors == ()


def _stored_of(run: Run, pod: str) -> list[tuple[str, int]]:
    assert run.writer.flush(10)
    reader = run.store.reader()
    try:
        lines_ = reader.newest(f"ns=fuzz pod={pod}", 10_000)
        sources = {s.id: s.key.restart for s in reader.sources()}
    finally:
        reader.close()
    return [(ln.message, ln.flags) for ln in lines_ if sources[ln.source_id] == 0]


@pytest.mark.parametrize("damage", ["trailing-garbage", "truncated"])
def test_damaged_gz_rotation_keeps_what_decompresses(tmp_path: Path, damage: str) -> None:
    """A .gz cut short or followed by junk: every line before the damage is stored,
    the file is reported once, the rest of the container is collected."""
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)
    good = gzip.compress(lines(range(20_000)))
    blob = good + b"junk" if damage == "trailing-garbage" else good[: len(good) * 3 // 4]
    c.path(0, "20261119-070000", gz=True).write_bytes(blob)
    c.append(lines(range(20_000, 20_010)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        got = run.seqs()
        assert got[-10:] == list(range(20_000, 20_010))
        kept = got[:-10]
        assert kept == list(range(len(kept)))
        assert len(kept) == 20_000 if damage == "trailing-garbage" else 10_000 < len(kept)
        assert [
            (Path(e.where).name, e.message.split(":")[0]) for e in run.stats.snapshot().errors
        ] == [("0.log.20261119-070000.gz", "cannot read")]
        assert [s for s in stored(run.store) if s.flags] == []
