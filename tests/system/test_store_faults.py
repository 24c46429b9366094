"""Store faults: disk full, a lock held by another process, a long reader, a damaged file."""

from __future__ import annotations

import os
import random
import select
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from klogtui.errors import BrokenStoreError, StoreError
from klogtui.model import Batch
from klogtui.store import Store
from klogtui.store.recovery import recover
from klogtui.store.schema import WAL_LIMIT_BYTES, connect
from tests.helpers_faults import lock_store
from tests.store_helpers import SEC, T0, key, rec, write


def _stored(store: Store) -> list[str]:
    conn = connect(store.path, create=False, readonly=True)
    try:
        return [r[0] for r in conn.execute("SELECT klogtui_text(message) FROM lines ORDER BY id")]
    finally:
        conn.close()


def test_disk_full_mid_batch_advances_nothing_then_recovers(store: Store) -> None:
    write(store, Batch([rec(T0, "before")], checkpoints={"file:a": "1"}))
    writer = store.start_writer()
    try:
        # A full disk, as SQLite sees it: no page may be added to the file.
        pages = writer._conn.execute("PRAGMA page_count").fetchone()[0]
        writer._conn.execute(f"PRAGMA max_page_count={pages}")
        writer.submit(
            Batch(
                [rec(T0 + i, "big " + "x" * 2000) for i in range(1, 500)],
                checkpoints={"file:a": "2"},
            )
        )
        deadline = time.monotonic() + 10
        while writer.error is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert "full" in writer.error.message
        assert _stored(store) == ["before"]
        assert store.load_checkpoints() == {"file:a": "1"}
        writer._conn.execute("PRAGMA max_page_count=1073741823")  # space is back
        assert writer.flush(30)
    finally:
        writer.close()
    assert _stored(store)[0] == "before" and len(_stored(store)) == 500
    assert store.load_checkpoints() == {"file:a": "2"}


def test_store_locked_by_another_process_waits_and_loses_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lock held longer than the busy timeout, so the writer has to retry: the real
    # timeout (10 s) shrunk to 1 s, so the scenario takes seconds, not 12.
    monkeypatch.setattr("klogtui.store.schema.BUSY_TIMEOUT_MS", 1_000)
    hold_s = 3
    locker = lock_store(store.path, hold_s)
    told: list[str] = []
    writer = store.start_writer(on_error=lambda e: told.append(e.message))
    try:
        writer.submit(
            Batch([rec(T0 + i, f"line {i}") for i in range(1000)], checkpoints={"file:x": "1000"})
        )
        assert writer.flush(hold_s + 30)
    finally:
        writer.close()
        locker.wait(30)
    assert told and set(told) == {"store write failed: database is locked; retrying"}
    assert _stored(store) == [f"line {i}" for i in range(1000)]
    assert store.load_checkpoints() == {"file:x": "1000"}


def test_wal_is_bounded_after_a_long_reader(store: Store) -> None:
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM lines").fetchone()  # holds its snapshot
    writer = store.start_writer()
    rng = random.Random(7)  # text that does not compress: the WAL must really grow
    try:
        for b in range(30):
            writer.submit(
                Batch(
                    [rec(T0 + (b * 2000 + i) * SEC, rng.randbytes(500).hex()) for i in range(2000)]
                )
            )
        writer.flush()
        wal = Path(str(store.path) + "-wal")
        assert wal.stat().st_size > WAL_LIMIT_BYTES  # the reader pinned the WAL
        reader.execute("COMMIT")
        reader.close()
        writer.submit(Batch([rec(T0 + 10**6 * SEC + i, "after") for i in range(3000)]))
        writer.flush()
        writer.submit(Batch([rec(T0 + 2 * 10**6 * SEC + i, "after") for i in range(3000)]))
        writer.flush()
        assert wal.stat().st_size <= WAL_LIMIT_BYTES
    finally:
        writer.close()


def test_damaged_store_is_recovered_with_every_readable_line(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    write(store, Batch([rec(T0 + i * SEC, f"line {i:05d} " + "z" * 300) for i in range(20_000)]))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # Scribble over a stretch of pages in the middle of the file.
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(64 * 1024))
    with pytest.raises(BrokenStoreError):
        reader = Store.open(path).reader()
        reader.count("line")
        reader.facets("line", "pod")
        # A damaged page surfaces when it is read: read everything.
        cursor = None
        while page := reader.window_after("", cursor, 5000):
            cursor = page[-1].id
        raise AssertionError("damage went unnoticed")
    salvage = recover(path)
    assert salvage.moved_to.exists() and not salvage.complete
    recovered = Store.open(path).reader()
    got = [ln.message[:10] for ln in recovered.oldest("", 30_000)]
    assert 10_000 < len(got) < 20_000
    assert got == sorted(got) and len(set(got)) == len(got)  # in order, no duplicates
    assert got[0] == "line 00000" and got[-1] == "line 19999"


def _count_in_another_process(db: Path) -> str:
    """The number of lines another process sees committed in the store at db."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; print(sqlite3.connect({str(db)!r})"
            ".execute('SELECT count(*) FROM lines').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_opening_a_reader_beside_the_writer_keeps_other_processes_in_sight(store: Store) -> None:
    """Closing any descriptor of the file drops the process's locks: never do it."""
    writer = store.start_writer()
    try:
        writer.submit(Batch([rec(T0, "one")]))
        writer.flush()
        store.reader().close()
        Store.open(store.path)
        writer.submit(Batch([rec(T0 + SEC, "two")]))
        writer.flush()
        count = _count_in_another_process(store.path)
        writer.submit(Batch([rec(T0 + 2 * SEC, "three")]))
        writer.flush()
        assert Path(str(store.path) + "-wal").exists()
        count3 = _count_in_another_process(store.path)
    finally:
        writer.close()
    assert (count, count3) == ("2", "3")


def test_a_writer_bug_stops_it_visibly_instead_of_hanging_producers(store: Store) -> None:
    writer = store.start_writer()
    try:
        bad = rec(T0, "x")._replace(ts="not a timestamp")  # type: ignore[arg-type]
        writer.submit(Batch([bad]))
        assert not writer.flush(10)  # says nothing was committed, instead of hanging
        assert writer.failure is not None
        with pytest.raises(StoreError, match="writer stopped"):
            writer.submit(Batch([rec(T0, "after")]))
    finally:
        writer.close()


# -- a damaged store: say so, never a traceback; recover every intact line ------------------

_LINES = 30_000


def _message(i: int) -> str:
    # Every 500th line is long enough to spill into overflow pages.
    return f"line {i:06d} " + ("payload " * (i % 7) if i % 500 else "long " * 2_000)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpointed store of _LINES lines from 5 sources (built once; tests copy it)."""
    path = tmp_path_factory.mktemp("pristine") / "s.db"
    store = Store.open(path)
    write(
        store,
        Batch(
            [
                rec(T0 + i * SEC // 10, _message(i), key(pod=f"web-{i % 5}"), level=i % 7)
                for i in range(_LINES)
            ]
        ),
    )
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def _klogtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _intact_messages(data: bytes, pristine: Path) -> set[bytes]:
    """The line numbers whose stored text (compressed or not) is physically in the
    file, found without SQLite reading the damaged file.

    A text cut off by the damage (a row that straddles where the file was cut) is not
    there. A text longer than a page goes on in overflow pages: its start is enough.
    """
    conn = connect(pristine, create=False, readonly=True)
    try:
        stored = [
            (text[:11].encode(), raw if isinstance(raw, bytes) else raw.encode())
            for raw, text in conn.execute("SELECT message, klogtui_text(message) FROM lines")
        ]
    finally:
        conn.close()
    # One pass over the file, looking each window up among the texts' first bytes (plain
    # text: a line's number) and their last bytes (compressed: its first bytes are the
    # dictionary byte and a frame header most frames share; the payload's end is not).
    by_head: dict[bytes, list[tuple[bytes, bytes]]] = {}
    by_tail: dict[bytes, list[tuple[bytes, bytes]]] = {}
    intact: set[bytes] = set()
    for number, raw in stored:
        # Past a page, only the start is sure to lie in one piece (on the leaf page).
        raw = raw if len(raw) < 4000 else raw[:400]
        if len(raw) < _HEAD:
            if raw in data:  # too short to look up: looked for on its own (a few)
                intact.add(number)
        elif raw.startswith(b"line "):
            by_head.setdefault(raw[:_HEAD], []).append((number, raw))
        else:
            by_tail.setdefault(raw[-_HEAD:], []).append((number, raw))
    for at in range(len(data) - _HEAD + 1):
        window = data[at : at + _HEAD]
        for number, raw in by_head.get(window, ()):
            if data.startswith(raw, at):
                intact.add(number)
        for number, raw in by_tail.get(window, ()):
            if data.startswith(raw, at + _HEAD - len(raw)):
                intact.add(number)
    return intact


_HEAD = 12


@pytest.mark.parametrize("seed", range(1, 9))
def test_flipped_bytes_are_reported_with_what_to_do_never_a_traceback(
    pristine: Path, tmp_path: Path, seed: int
) -> None:
    db = tmp_path / "s.db"
    data = bytearray(pristine.read_bytes())
    rng = random.Random(seed)
    for _ in range(50):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    db.write_bytes(data)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        structure_ok = conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    except sqlite3.DatabaseError:  # damage the check itself cannot get past
        structure_ok = False
    finally:
        conn.close()
    logs = tmp_path / "logs" / "pods" / "shop_new_uid" / "app"
    logs.mkdir(parents=True)
    (logs / "0.log").write_text("2026-11-18T11:06:40.000000000Z stdout F new line\n")
    runs = {
        "query": _klogtui("query", "--db", str(db), "--limit", "0"),
        "search": _klogtui("query", "payload", "--db", str(db), "--limit", "0"),
        "jsonl": _klogtui("query", "--db", str(db), "--limit", "0", "-o", "jsonl"),
    }
    runs["collect"] = _klogtui(
        "collect", "--once", "--log-dir", str(tmp_path / "logs"), "--db", str(db)
    )
    for name, done in runs.items():
        assert "Traceback" not in done.stderr, (name, done.stderr[-2000:])
        if done.returncode != 0:
            assert done.returncode == 1 and done.stderr.count("\n") == 1, (name, done.stderr)
            assert f"{db}: is damaged" in done.stderr, (name, done.stderr)
            assert f"Run `klogtui query --db '{db}'` in a terminal" in done.stderr
    # Never written on into a damaged file.
    assert runs["collect"].returncode == (0 if structure_ok else 1)
    if not structure_ok:
        assert db.read_bytes() == data


def _answer_recovery_offer(db: Path, answer: bytes) -> tuple[int, str, str]:
    """`klogtui query --db db --limit 0` with stdin and stderr on a terminal, answering
    the recovery offer (if one comes) with `answer`; (exit code, terminal text, stdout)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "klogtui", "query", "--db", str(db), "--limit", "0"],
        stdin=slave,
        stderr=slave,
        stdout=subprocess.PIPE,
    )
    os.close(slave)
    # Read stdout as it comes: damage found only after lines were printed must not
    # leave the process blocked on a full pipe while we wait for its offer.
    stdout = proc.stdout
    assert stdout is not None
    out_parts: list[bytes] = []
    drain = threading.Thread(target=lambda: out_parts.append(stdout.read()), daemon=True)
    drain.start()
    seen = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in seen and proc.poll() is None:
        assert time.monotonic() < deadline, seen
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:  # the process closed the terminal
                break
    if b"[y/N]" in seen:
        os.write(master, answer)
    proc.wait(timeout=600)
    drain.join(60)
    out = b"".join(out_parts)
    while select.select([master], [], [], 0)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.returncode, seen.decode(errors="replace"), out.decode(errors="replace")


@pytest.mark.parametrize("damage", ["garbled header", "truncated in half", "50 flipped bytes"])
def test_recovery_copies_every_line_still_in_the_file(
    pristine: Path, tmp_path: Path, damage: str
) -> None:
    db = tmp_path / "s.db"
    data = bytearray(pristine.read_bytes())
    if damage == "garbled header":
        data[:100] = random.Random(1).randbytes(100)
    elif damage == "truncated in half":
        del data[len(data) // 2 :]
    else:
        rng = random.Random(5)
        for _ in range(50):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    db.write_bytes(data)
    intact = _intact_messages(bytes(data), pristine)
    code, tty, out = _answer_recovery_offer(db, b"y\n")
    assert "Traceback" not in tty, tty
    if code == 1:
        # The damage was met after lines were printed: the listing stops there (each
        # line once) and says to run it again, which reads the rebuilt store.
        assert "run the command again" in tty, tty
        assert len(set(out.splitlines())) == len(out.splitlines())
        again = _klogtui("query", "--db", str(db), "--limit", "0")
        assert again.returncode == 0, again.stderr
        out = again.stdout
    assert code in (0, 1), tty
    (moved,) = [p for p in tmp_path.glob("s.db.broken-*") if not p.name.endswith(("-wal", "-shm"))]
    assert moved.read_bytes() == data  # kept as it was, next to the new store
    printed = [line.split(" ", 2)[2] for line in out.splitlines()]
    recovered = {m[:11].encode() for m in printed}
    assert len(set(out.splitlines())) == len(printed)  # each line once
    if damage == "50 flipped bytes":
        # A flipped byte may spoil the row it falls in, never more than its page.
        assert len(recovered) >= _LINES - 50 * 10
        assert len(intact - recovered) <= 50
    else:
        assert recovered == intact and len(printed) == len(recovered)
        assert len(intact) > (_LINES if damage == "garbled header" else _LINES // 3) - 1
    assert f"copied {len(printed):,} lines from 5 sources" in tty


@pytest.mark.parametrize("kind", ["another app's SQLite file", "text", "garbled SQLite file"])
def test_a_file_that_is_not_ours_is_never_offered_nor_touched(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "other.db"
    if kind == "text":
        db.write_text("hello " * 100)
    else:
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE notes(x)")
        conn.execute("INSERT INTO notes VALUES('line 000001')")
        conn.commit()
        conn.close()
        if kind == "garbled SQLite file":
            data = bytearray(db.read_bytes())
            data[:100] = bytes(100)
            db.write_bytes(data)
    before = db.read_bytes()
    code, tty, out = _answer_recovery_offer(db, b"y\n")
    assert "[y/N]" not in tty and code == 1 and out == ""
    assert tty.strip().endswith(
        "is not a klogtui store; klogtui leaves it alone (pass --db to use another file)"
    ) or ("is an SQLite database but not a klogtui store; klogtui leaves it alone" in tty)
    assert [p.name for p in tmp_path.iterdir()] == ["other.db"] and db.read_bytes() == before
