"""`klogtui query -f` prints every new matching line once, in commit order, whatever the
timestamps: a line stamped years ahead or a clock stepped back hides nothing."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from klogtui.model import Batch
from klogtui.store import Store
from tests.store_helpers import SEC, T0, key, rec, write

DEADLINE_S = 60.0
YEAR = 365 * 86_400 * SEC


class Follower:
    """`klogtui query -f -o jsonl` on a store, its messages collected as they come."""

    def __init__(self, db: Path, *query: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "klogtui", "query", "-f", "--limit", "0", "-o", "jsonl"]
            + ["--db", str(db), *query],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.messages: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.messages.append(json.loads(line)["message"])

    def wait_for(self, message: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while message not in self.messages:
            assert self.proc.poll() is None, self.proc.stderr and self.proc.stderr.read()
            assert time.monotonic() < deadline, f"{message!r} never printed: {self.messages}"
            time.sleep(0.02)

    def stop(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=DEADLINE_S)
        return err


@pytest.fixture
def follower(store: Store) -> Iterator[Follower]:
    write(store, Batch([rec(T0 + i * SEC, f"old {i}") for i in range(20)]))
    f = Follower(store.path)
    try:
        f.wait_for("old 19")
        yield f
    finally:
        f.stop()


def commit_one_by_one(store: Store, stamped: list[tuple[int, str]]) -> None:
    for ts, message in stamped:
        write(store, Batch([rec(ts, message)]))


def test_a_line_stamped_ten_years_ahead_hides_nothing(store: Store, follower: Follower) -> None:
    new = [(T0 + 10 * YEAR, "from the future")]
    commit_one_by_one(store, new)
    follower.wait_for("from the future")  # printed before the next lines are stored
    later = [(T0 + (30 + i) * SEC, f"new {i}") for i in range(50)] + [(T0 + 90 * SEC, "last")]
    commit_one_by_one(store, later)
    new += later
    follower.wait_for("last")
    assert follower.messages == [f"old {i}" for i in range(20)] + [m for _, m in new]
    assert follower.stop() == ""


def test_a_clock_stepped_back_an_hour_hides_nothing(store: Store, follower: Follower) -> None:
    new = [(T0 - 3600 * SEC + i * SEC, f"new {i}") for i in range(50)]
    new += [(T0 - 3000 * SEC, "last")]
    commit_one_by_one(store, new)
    follower.wait_for("last")
    assert follower.messages == [f"old {i}" for i in range(20)] + [m for _, m in new]


def test_one_commit_prints_in_id_order_and_filters(store: Store, follower: Follower) -> None:
    other = key(pod="api-1")
    write(
        store,
        Batch(
            [
                rec(T0 + 5 * YEAR, "b ahead"),
                rec(T0 - 7200 * SEC, "a behind"),
                rec(T0 + 40 * SEC, "skip me", other),
            ]
        ),
    )
    write(store, Batch([rec(T0 + 41 * SEC, "last")]))
    follower.wait_for("last")
    # The follower runs the empty query: every line, the commit's in id (time) order.
    assert follower.messages[20:] == ["a behind", "skip me", "b ahead", "last"]
    filtered = Follower(store.path, "pod=web-1")
    try:
        filtered.wait_for("last")
        write(store, Batch([rec(T0 - YEAR, "old web", key()), rec(T0, "api", other)]))
        write(store, Batch([rec(T0 + 99 * SEC, "web again")]))
        filtered.wait_for("web again")
        assert filtered.messages[-2:] == ["old web", "web again"]
        assert "api" not in filtered.messages
    finally:
        filtered.stop()


def test_a_version_1_store_is_upgraded_and_followed(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    store = Store.open(db)
    write(store, Batch([rec(T0, "before the upgrade")]))
    conn = sqlite3.connect(db)  # make it what version 1 wrote: no commit log
    conn.executescript(
        "DROP TABLE commit_log; DROP TABLE alerts; "
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    conn.close()
    store = Store.open(db)  # what klogtui and klogtui collect do first
    f = Follower(db)
    try:
        f.wait_for("before the upgrade")
        write(store, Batch([rec(T0 - 3600 * SEC, "after the upgrade")]))
        f.wait_for("after the upgrade")
        assert f.messages == ["before the upgrade", "after the upgrade"]
    finally:
        f.stop()


def test_a_follower_that_fell_behind_the_log_says_so(store: Store, follower: Follower) -> None:
    follower.proc.send_signal(signal.SIGSTOP)  # Ctrl-Z
    try:
        stat = Path(f"/proc/{follower.proc.pid}/stat")
        deadline = time.monotonic() + DEADLINE_S
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "T":
            assert time.monotonic() < deadline, "the follower did not stop"
            time.sleep(0.01)  # until it is stopped: it must read nothing of what follows
        commit_one_by_one(store, [(T0 + (40 + i) * SEC, f"while stopped {i}") for i in range(3)])
        conn = sqlite3.connect(store.path)  # what the writer's trim does after KEEP_NS
        with conn:
            conn.execute("DELETE FROM commit_log")
        conn.close()
    finally:
        follower.proc.send_signal(signal.SIGCONT)
    write(store, Batch([rec(T0 + 50 * SEC, "after")]))
    follower.wait_for("after")
    assert follower.messages[20:] == ["after"]
    assert follower.stop() == (
        "klogtui: 3 commits were dropped from the store's commit log before -f read them "
        "(it keeps 60 s); lines they stored are not printed here, query again to see them\n"
    )
