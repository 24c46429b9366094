"""The real `klogtui` in a real terminal (tmux): fast input and the terminal it leaves behind."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from klogtui.store import Store
from tests.helpers_faults import collect_argv
from tests.helpers_files import Container, lines, stored_seqs
from tests.helpers_tmux import Terminal, needs_tmux
from tests.ui_fixtures import build_demo_store
from tests.waiting import wait_for

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
            # (The blank level badge: the line states no level.)
            "11-18 11:06:44.000Z old-batch-1/job     health check ok 4" in text
            and "▕plugin/reload: Running configuration SHA512 = 8 " in text
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


# The app with Textual's output thread stuck as it was seen once the terminal had gone
# (a closed tmux: the app outlived it for good, collecting and holding the store).
_STUCK_OUTPUT = """
import sys, threading
from textual.drivers._writer_thread import WriterThread
WriterThread.stop = lambda self: threading.Event().wait()
from klogtui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_closed_terminal_ends_the_app_even_when_textual_cannot(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    web = Container(logs, pod="web-1", uid="uid-web")
    web.append(lines(range(200)))
    db = tmp_path / "store.db"
    app = shlex.join([sys.executable, "-c", _STUCK_OUTPUT, "--log-dir", str(logs), "--db", str(db)])
    status = tmp_path / "status"  # not on screen: a stuck Textual never restores it
    with Terminal(f"{app}; echo $? > {shlex.quote(str(status))}", (120, 30), tmp_path) as term:
        term.wait_for(lambda text: "200 lines" in text, "the lines collected")
        (pid,) = term.children()
        os.kill(pid, signal.SIGHUP)  # what a closed terminal sends
        wait_for(
            lambda: status.exists() and status.read_text() != "", timeout=30, what="klogtui exit"
        )
    assert status.read_text() == "129\n"
    # The store was flushed and let go: a collector can take it over and finds nothing new.
    again = subprocess.run(
        [*collect_argv(logs, db), "--once"], capture_output=True, text=True, timeout=60
    )
    assert (again.returncode, again.stderr) == (0, "")
    assert stored_seqs(Store.open(db)) == list(range(200))
