"""One store between processes: a single collector per store, the TUI beside it as a
live reader, a store deleted under the collector, a read-only store. Real `klogtui
collect` processes, real files; lines written, stored and duplicated are counted."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from klogtui.cli import main
from klogtui.store import Store
from klogtui.ui.app import KlogApp
from tests.helpers_faults import (
    Tally,
    collect_argv,
    collect_proc,
    committed_lines,
    start_writer,
    tally,
    written,
)
from tests.helpers_files import Container, lines, stored_seqs
from tests.waiting import wait_for

_SEQ = re.compile(r"seq=(\d+)$")


def _stop(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM proc if it still runs; its stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return err.decode()


def _exact(db: Path, counts: dict[str, int], label: str) -> Tally:
    result = tally(Store.open(db), counts)
    print(f"{label}: {result}")
    assert (result.stored, result.duplicated, result.lost) == (result.written, 0, 0), result
    return result


# -- one collector per store -------------------------------------------------------------


def test_a_second_collector_on_one_store_refuses_and_nothing_doubles(tmp_path: Path) -> None:
    """Two `klogtui collect` on one --db while lines stream and rotate: the second says
    who collects and exits 1 at once. The first is killed with -9 mid-stream; the kernel
    releases its lock, so a third one takes over. Every line is stored once."""
    log_dir = tmp_path / "logs"
    (log_dir / "pods").mkdir(parents=True)
    db = tmp_path / "store.db"
    writer = start_writer(log_dir, "rename", rate=3_000, seconds=6, rotate_lines=2_000)
    first = collect_proc(log_dir, db)
    second = third = None
    try:
        wait_for(lambda: committed_lines(db) > 1_000, 30, "first collector storing")
        second = collect_proc(log_dir, db)
        refused = _exit_within(second, 30)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        third = collect_proc(log_dir, db)
        assert writer.wait(60) == 0
        w = written(log_dir)
        wait_for(lambda: committed_lines(db) >= w.total, 60, "every line stored")
        third_ran = third.poll() is None
        third_err = _stop(third)
    finally:
        for p in (first, second, third, writer):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    _exact(db, w.pods, "two collectors, then kill -9 and a third")
    assert refused, "the second collector ran beside the first"
    assert second.returncode == 1
    assert _stop(second) == (
        f"klogtui: {db}: another klogtui (pid {first.pid}) is already collecting into "
        "this store; a second collector would store every line twice. Stop it first, or "
        "pass --db to collect into another store (`klogtui query` and `klogtui` read it "
        "while it collects).\n"
    )
    assert third_ran, "the third collector was refused after a kill -9"
    assert (third.returncode, third_err) == (0, "")


def _exit_within(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether proc exits by itself within timeout."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_the_app_on_a_store_being_collected_reads_it_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`klogtui --db X` while `klogtui collect --db X` runs: the app does not collect
    too (nothing doubles), says who collects, and shows new lines as they are stored."""
    log_dir = tmp_path / "logs"
    (log_dir / "pods").mkdir(parents=True)
    db = tmp_path / "store.db"
    writer = start_writer(log_dir, "rename", rate=2_000, seconds=5, rotate_lines=2_000)
    collector = collect_proc(log_dir, db)
    seen: dict[str, object] = {}

    async def drive(app: KlogApp) -> None:
        async with app.run_test(size=(140, 36)) as pilot:
            # Live: the newest lines, written after the app opened, reach the screen.
            await _until(pilot, lambda: writer.poll() is not None, 60)
            last = {f"seq={n - 1}" for n in written(log_dir).pods.values()}
            await _until(pilot, lambda: last <= _shown(app), 60)
            seen["collection"] = app.collection
            seen["status"] = _status(app)

    async def run_async(app: KlogApp) -> None:
        await drive(app)

    # run_app runs the app with run_async: drive it with Pilot instead of a terminal.
    monkeypatch.setattr(KlogApp, "run_async", run_async)
    try:
        wait_for(lambda: committed_lines(db) > 500, 30, "the collector storing")
        assert main(["--log-dir", str(log_dir), "--db", str(db)]) == 0
        w = written(log_dir)
        wait_for(lambda: committed_lines(db) >= w.total, 60, "every line stored")
        assert _stop(collector) == ""
    finally:
        for p in (collector, writer):
            if p.poll() is None:
                p.kill()
                p.wait()
    _exact(db, w.pods, "the app beside `klogtui collect`")
    assert seen["collection"] is None
    assert str(seen["status"]).endswith(f" · collected by pid {collector.pid}")


def _status(app: KlogApp) -> str:
    return app.status_bar.render().plain


def _shown(app: KlogApp) -> set[str]:
    return {
        f"seq={m[1]}" for row in app.log_view.rendered_rows() if (m := _SEQ.search(row.rstrip()))
    }


async def _until(pilot: object, condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


# -- the store deleted under the collector -----------------------------------------------


@pytest.mark.parametrize("removed", [("",), ("", "-wal", "-shm")], ids=["db", "db-wal-shm"])
def test_a_store_deleted_while_collecting_stops_it_loudly(
    tmp_path: Path, removed: tuple[str, ...]
) -> None:
    """`rm store.db` (or `rm store.db*`) while `klogtui collect` writes: it stops with
    exit 1 and says why instead of writing on into the unlinked file, and leaves no WAL
    behind for a new store to take for its own. The next run starts a new store from
    the log files, which still hold every line: all of them are stored, once."""
    log_dir = tmp_path / "logs"
    (log_dir / "pods").mkdir(parents=True)
    db = tmp_path / "store.db"
    writer = start_writer(log_dir, "rename", rate=3_000, seconds=5, rotate_lines=2_000)
    proc = collect_proc(log_dir, db)
    try:
        wait_for(lambda: committed_lines(db) > 1_000, 30, "collecting")
        for suffix in removed:
            Path(f"{db}{suffix}").unlink()
        stopped = _exit_within(proc, 30)
        err = _stop(proc)
        left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("store.db"))
        assert writer.wait(60) == 0
    finally:
        for p in (proc, writer):
            if p.poll() is None:
                p.kill()
                p.wait()
    w = written(log_dir)
    again = collect_proc(log_dir, db, "--once")
    assert _stop_when_done(again) == ""
    _exact(db, w.pods, f"store deleted ({', '.join('store.db' + s for s in removed)})")
    assert stopped, "the collector wrote on into the deleted store"
    assert proc.returncode == 1
    assert err == (
        f"klogtui: store: {db}: the store was deleted or replaced while klogtui was "
        "collecting into it; stopped rather than write on into a file no one can read. "
        "Lines it held are gone with it; run klogtui again to start a new store (the log "
        "files still on disk are read again from their start).\n"
    )
    assert left == ["store.db.lock"]


def _stop_when_done(proc: subprocess.Popen[bytes]) -> str:
    """stderr of a `collect --once` that must finish by itself with exit 0."""
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    return err.decode()


def test_a_wal_deleted_while_collecting_is_replaced_and_the_store_stays_readable(
    tmp_path: Path,
) -> None:
    """`rm store.db-wal` while `klogtui collect` writes: queries right after it still
    answer (never "damaged … move it aside", which would have a user throw away a good
    store); the collector copies what the deleted WAL held into the store, says so once,
    starts a new WAL and goes on. Every line is stored once."""
    log_dir = tmp_path / "logs"
    (log_dir / "pods").mkdir(parents=True)
    db = tmp_path / "store.db"
    writer = start_writer(log_dir, "rename", rate=3_000, seconds=5, rotate_lines=2_000)
    proc = collect_proc(log_dir, db)
    answers = []
    try:
        wait_for(lambda: committed_lines(db) > 1_000, 30, "collecting")
        Path(f"{db}-wal").unlink()
        for _ in range(3):
            answers.append(
                subprocess.run(
                    [sys.executable, "-m", "klogtui", "query", "--db", str(db), "--limit", "1"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            )
        assert writer.wait(60) == 0
        w = written(log_dir)
        wait_for(lambda: committed_lines(db) >= w.total, 60, "every line stored")
        err = _stop(proc)
    finally:
        for p in (proc, writer):
            if p.poll() is None:
                p.kill()
                p.wait()
    _exact(db, w.pods, "WAL deleted while collecting")
    assert [(a.returncode, a.stderr) for a in answers] == [(0, "")] * 3
    assert all(_SEQ.search(a.stdout.strip()) for a in answers)
    assert proc.returncode == 0
    assert err == (
        f"klogtui: store: {db}-wal was deleted while collecting; every line it held was "
        "kept in the store and a new one started\n"
    )


# -- a read-only store -------------------------------------------------------------------

# Root reads and writes anything; without these capabilities file modes apply to it too.
_NO_DAC = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]

# The app as a user starts it, driven by Pilot: which lines it shows, its status line
# and its notifications, as JSON on stdout.
_APP_SCRIPT = """
import asyncio, json, re, sys
from klogtui.cli import main
from klogtui.ui.app import KlogApp

seen = {}

async def drive(app):
    async with app.run_test(size=(140, 36)) as pilot:
        for _ in range(400):
            rows = [r.rstrip() for r in app.log_view.rendered_rows()]
            seen["shown"] = [int(m[1]) for r in rows if (m := re.search(r"seq=(\\d+)$", r))]
            if seen["shown"]:
                break
            await pilot.pause(0.05)
        seen["status"] = app.status_bar.render().plain
        seen["notices"] = [n.message for n in app._notifications]
        seen["collecting"] = app.collection is not None

async def run_async(app):
    await drive(app)

KlogApp.run_async = run_async
seen["code"] = main(sys.argv[1:])
print(json.dumps(seen))
"""


def _as_user(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_NO_DAC, sys.executable, *argv], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
@pytest.mark.parametrize("read_only", ["store-0400", "directory-0500"])
def test_a_read_only_store_is_read_and_collecting_into_it_says_so_at_once(
    tmp_path: Path, read_only: str
) -> None:
    """A store the user cannot write (the file 0400, or a cleanly closed store in a
    0500 directory): `klogtui collect` says so at once and exits 1; `klogtui query` and
    the app read every line; the app, unless told --no-collect, says why it does not
    collect."""
    c = Container(tmp_path / "logs")
    c.append(lines(range(100)))
    directory = tmp_path / "stores"
    db = directory / "store.db"
    assert _stop_when_done(collect_proc(c.log_dir, db, "--once")) == ""
    c.append(lines(range(100, 110)))  # not stored yet: collecting would need to write
    if read_only == "store-0400":
        db.chmod(0o400)
    else:
        directory.chmod(0o500)
    try:
        started = time.monotonic()
        collect = _as_user("-m", "klogtui", *collect_argv(c.log_dir, db, "--once")[3:])
        took = time.monotonic() - started
        left_by_collect = sorted(p.name for p in directory.iterdir())
        query = _as_user("-m", "klogtui", "query", "--db", str(db), "--limit", "0")
        viewer = _as_user("-c", _APP_SCRIPT, "--no-collect", "--db", str(db))
        app = _as_user("-c", _APP_SCRIPT, "--log-dir", str(c.log_dir), "--db", str(db))
    finally:
        directory.chmod(0o700)
    assert (query.returncode, query.stderr) == (0, "")
    assert [int(m[1]) for m in re.finditer(r"seq=(\d+)", query.stdout)] == list(range(100))
    why = (
        f"{db}: the store is read-only (mode 0400)"
        if read_only == "store-0400"
        else f"{db}: the store's directory {directory} is read-only and SQLite writes "
        "store.db-wal and store.db-shm beside the store"
    )
    advice = (
        "klogtui cannot collect into it. Make it writable, or pass --db to collect into "
        "another store; `klogtui query` reads it as it is"
    )
    assert (collect.returncode, collect.stderr) == (1, f"klogtui: {why}; {advice}\n")
    assert took < 20, f"took {took:.0f}s to say so"
    assert left_by_collect == ["store.db", "store.db.lock"]
    for run, notices in ((viewer, []), (app, [f"{why}; {advice}. Showing it without collecting."])):
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout)
        assert seen["shown"] and seen["shown"][-1] == 99
        assert seen["status"].endswith(" · no collector")
        assert (seen["collecting"], seen["notices"]) == (False, notices)
    assert sorted(stored_seqs(Store.open(db))) == list(range(100))
