"""The real `klogtui` in a real terminal (tmux): fast input and the terminal it leaves behind."""

from __future__ import annotations

import shlex
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

    When klogtui exits, the pane's shell prints its exit status and the terminal's modes.
    """
    db = tmp_path / "demo.db"
    build_demo_store(db)
    klogtui = shlex.join([sys.executable, "-m", "klogtui", "--no-collect", "--db", str(db)])
    with Terminal(f'{klogtui}; echo "klogtui exited $?"; stty -a', (160, 45), tmp_path) as term:
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
