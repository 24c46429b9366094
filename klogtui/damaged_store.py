"""What the command line does when a store turns out damaged: say so, and on a terminal
offer to move it aside and rebuild it with every line still readable, then go on."""

from __future__ import annotations

import sys
from collections.abc import Callable

from klogtui.errors import BrokenStoreError

__all__ = ["answer_damage"]


def answer_damage(e: BrokenStoreError, rerun: Callable[[], int]) -> int:
    """The exit code after `e`: the command run again on the rebuilt store (`rerun`),
    or 1 with what to do."""
    from klogtui.store.pages import is_klogtui_file

    if not is_klogtui_file(e.path):  # someone else's file: say so, touch nothing
        print(
            f"klogtui: {e.path}: is not a klogtui store; klogtui leaves it alone "
            "(pass --db to use another file)",
            file=sys.stderr,
        )
        return 1
    if _offer_recovery(e):
        if not e.printed_some:
            return rerun()
        # Its lines get new ids in the rebuilt store (and damage may have changed
        # some timestamps): going on from the last one printed could skip or repeat.
        print(
            "klogtui: the lines above stop where the damage was met; "
            "run the command again for every line the rebuilt store holds",
            file=sys.stderr,
        )
        return 1
    print(f"klogtui: {e}", file=sys.stderr)
    return 1


def _offer_recovery(error: BrokenStoreError) -> bool:
    """Ask (on a terminal only) to move a damaged store aside and rebuild it; True if done."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(f"klogtui: {error}", file=sys.stderr)
    # On stderr, like the question's reason: stdout may be piped (`klogtui query | grep`).
    print(
        "Move it aside and start a new store with every line still readable? [y/N] ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    answer = sys.stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        return False
    from klogtui.store.recovery import recover

    salvage = recover(error.path)
    print(
        f"klogtui: moved the damaged store to {salvage.moved_to}; copied {salvage.lines:,} "
        f"lines from {salvage.sources} sources",
        file=sys.stderr,
    )
    if not salvage.complete:
        lost = f"{salvage.damaged_rows:,} damaged rows could not be read; " * bool(
            salvage.damaged_rows
        )
        print(
            f"klogtui: {lost}lines still in the log files are read again (some may appear twice)",
            file=sys.stderr,
        )
    return True
