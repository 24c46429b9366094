"""The real `klogtui` in a real terminal (tmux): fast input and the terminal it leaves behind."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers_tmux import Terminal, needs_tmux
from tests.ui_fixtures import build_demo_store

pytestmark = needs_tmux

LOADED = "422 lines"  # the status bar, once the fixture store is shown


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    """`klogtui --no-collect` on the demo fixture store at 160x45, its first screen shown.

    When klogtui exits, the pane's shell prints the terminal's modes and klogtui's exit status.
    """
    db = tmp_path / "demo.db"
    build_demo_store(db)
    klogtui = shlex.join([sys.executable, "-m", "klogtui", "--no-collect", "--db", str(db)])
    shell = f'{klogtui}; status=$?; stty -a; echo "klogtui exited $status"'
    with Terminal(shell, (160, 45), tmp_path) as term:
        term.wait_for(lambda text: LOADED in text, "the first screen")
        yield term


def query_row(text: str) -> str:
    return text.splitlines()[0].rstrip()


def test_keys_sent_right_behind_slash_reach_the_query_bar(terminal: Terminal) -> None:
    terminal.send_keys("/", "quota")  # q alone quits, t opens the time jump
    text = terminal.wait_for(lambda text: query_row(text) == "/ quota", "the typed query")
    assert "Jump to time" not in text
    terminal.send_keys("Escape")
    terminal.wait_for(lambda text: "quota" not in query_row(text), "the bar restored")
    # A paste: `/` and the query in one write, then Enter.
    terminal.paste("/ns=shop refused")
    terminal.send_keys("Enter")
    terminal.wait_for(
        lambda text: (
            query_row(text) == "/ ns=shop refused"
            and "connection refused" in text
            and "health check" not in text
        ),
        "the pasted query applied",
    )
    assert terminal.display("#{pane_dead}") == "0"


def test_keys_sent_right_behind_enter_act_on_the_log(terminal: Terminal) -> None:
    terminal.resize(80, 24)  # narrow enough for wrapping to show
    terminal.wait_for(lambda text: "coredns… 60" in text, "the narrow layout")
    # One write: the query, Enter, then w (wrap) and g (the oldest line of that query).
    terminal.send_keys("/", "pod=old-batch-*", "Enter", "w", "g")
    text = terminal.wait_for(
        lambda text: (
            "11-18 11:06:44.000Z old-batch-1/job health check ok 4" in text
            and "▕Running configuration SHA512 = 8 " in text
        ),  # the tail, on a row of its own
        "the oldest lines of the query, wrapped",
    )
    assert query_row(text) == "/ pod=old-batch-*"
    assert terminal.display("#{pane_dead}") == "0"


def test_keys_sent_right_behind_a_dialog_key_reach_the_dialog(terminal: Terminal) -> None:
    terminal.send_keys("t", "q")  # q alone quits; in the time field it is text
    terminal.wait_for(
        lambda text: "Jump to time" in text and "▊  q " in text, "q in the time field"
    )
    terminal.send_keys("Escape")
    terminal.wait_for(lambda text: "Jump to time" not in text, "the dialog closed")
    assert terminal.display("#{pane_dead}") == "0"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_the_app_and_gives_the_terminal_back(
    terminal: Terminal, sig: signal.Signals
) -> None:
    # While it runs, the app has the alternate screen and mouse reporting on.
    assert terminal.display("#{alternate_on} #{mouse_any_flag}") == "1 1"
    (pid,) = terminal.children()
    os.kill(pid, sig)
    text = terminal.wait_for(lambda text: "klogtui exited" in text, "klogtui to exit")
    assert "klogtui exited 0" in text
    assert terminal.display("#{alternate_on} #{mouse_any_flag}") == "0 0"
    modes = text.split()
    assert "echo" in modes and "icanon" in modes, text
