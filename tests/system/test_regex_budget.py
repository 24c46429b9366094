"""A runaway regex costs at most its budget: `klogtui query` answers and Ctrl-C works, the
TUI keeps answering keys while it runs, and the user is told what went wrong."""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text

from klogtui import regex_budget
from klogtui.model import Batch, SourceInfo
from klogtui.store import Store
from klogtui.ui.app import KlogApp
from klogtui.ui.widgets.query_bar import QueryInput
from tests.store_helpers import SEC, T0, key, rec, write
from tests.ui_fixtures import FIXED_NOW, settle

# 40 characters of a's and a tail that fails `$`: Python's re backtracks 2**38 ways.
LONG_POD = "a" * 38 + "-x"
# Catastrophic for re and for the regex module alike: only the budget stops it.
RUNAWAY = "pod=~(a|a)+$"
DEADLINE_S = 60.0  # generous: the budget is 1 s; on today's main these never end


@pytest.fixture
def two_pods(store: Store) -> Path:
    long, web = key(pod=LONG_POD), key(pod="web-aaa")
    write(
        store,
        Batch(
            [rec(T0 + i * SEC, f"long {i}", long) for i in range(3)]
            + [rec(T0 + i * SEC + 1, f"web {i}", web) for i in range(3)],
            sources=[SourceInfo(long), SourceInfo(web)],
        ),
    )
    return store.path


def query(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", "query", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )


def test_the_issues_pattern_answers_at_once(two_pods: Path) -> None:
    result = query(two_pods, "pod=~(a+)+$")
    assert result.returncode == 0, result.stderr
    assert [line.split(" ", 2)[2] for line in result.stdout.splitlines()] == [
        "web 0",
        "web 1",
        "web 2",
    ]


def test_a_runaway_regex_fails_with_a_message_within_its_budget(two_pods: Path) -> None:
    started = time.monotonic()
    result = query(two_pods, RUNAWAY)
    assert time.monotonic() - started < DEADLINE_S
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "klogtui: bad query: pod=~(a|a)+$ took longer than 1 s to match: the pattern "
        "backtracks (nested repeats such as (a|a)+); simplify it",
        f"  {RUNAWAY}",
        "       ^",
    ]


def _has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path) for fd in fds.iterdir())
    except OSError:
        return False


def test_ctrl_c_stops_a_query_stuck_in_a_regex(two_pods: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "klogtui", "query", "-f", "--db", str(two_pods), RUNAWAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not _has_open(proc.pid, two_pods.resolve()):  # past startup: at the query
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        proc.kill()
        proc.wait()
    # Ctrl-C or the budget, whichever came first: either way it ends, and cleanly.
    assert proc.returncode in (2, 130)
    assert "Traceback" not in err


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


@pytest.fixture
def watchdog() -> object:
    """Kill the test run if the app freezes: a frozen event loop never gives a deadline
    the chance to fire (Python's re holds the GIL), but faulthandler's thread does."""
    faulthandler.dump_traceback_later(3 * DEADLINE_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


async def test_the_tui_answers_keys_while_a_regex_runs(
    two_pods: Path, monkeypatch: pytest.MonkeyPatch, watchdog: object
) -> None:
    # A budget long enough that the regex is still running when the app has quit (the
    # last assert), so quitting proves the event loop was free. Leaving the test waits
    # for the worker thread, so not longer than that.
    monkeypatch.setattr(regex_budget, "REGEX_BUDGET_S", 5.0)
    app = KlogApp(Store(two_pods), now_ns=FIXED_NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        app.query_one(QueryInput).value = RUNAWAY
        await pilot.press("enter")
        await _until(lambda: app.log_view.is_loading, "the query never started")
        await pilot.press("q")
        await _until(lambda: not app.is_running, "q did not quit")
        assert app.log_view.is_loading  # the regex had not finished


async def test_the_tui_says_when_a_regex_ran_out_of_time(two_pods: Path, watchdog: object) -> None:
    app = KlogApp(Store(two_pods), now_ns=FIXED_NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        app.query_one(QueryInput).value = RUNAWAY
        await pilot.press("enter")
        await settle(pilot)
        error = str(app.query_bar.query_one("#query-error").render())
        assert "pod=~(a|a)+$ took longer than 1 s to match" in error
        # The tree still lists both pods, neither dimmed as unselected.
        # Labels are styled Text; a plain str would be missing below.
        pods = [
            p for n in app.sources_tree.root.children[0].children if isinstance(p := n.label, Text)
        ]
        assert [p.plain.split()[1] for p in pods] == [LONG_POD, "web-aaa"]
        assert not any(
            s.style == "dim" and (s.start, s.end) == (0, len(p)) for p in pods for s in p.spans
        )
