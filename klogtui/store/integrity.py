"""Checking a store for damage before writing into it.

A collector that writes on into a damaged file hides the damage and makes a later
recovery harder; so the store's structure is checked when it is opened for writing.
A full check reads every page (about 60 ms for 100,000 lines), so it gets a time
budget: past it, a big store is checked as its pages are read instead.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from klogtui.store.schema import broken_store

__all__ = ["CHECK_BUDGET_S", "check_integrity"]

CHECK_BUDGET_S = 1.0


def check_integrity(conn: sqlite3.Connection, path: Path, budget_s: float = CHECK_BUDGET_S) -> None:
    """Raise BrokenStoreError if SQLite finds the store at path damaged within budget_s.

    Raises:
        BrokenStoreError: the check found damage (the first problem is in the message).
    """
    timer = threading.Timer(budget_s, conn.interrupt)
    timer.start()
    try:
        report = conn.execute("PRAGMA quick_check(3)").fetchall()
    except sqlite3.OperationalError as e:
        if "interrupted" in str(e):
            return  # out of time: not known to be damaged
        raise broken_store(path, f"is damaged ({e})") from e
    except sqlite3.DatabaseError as e:
        raise broken_store(path, f"is damaged ({e})") from e
    finally:
        timer.cancel()
    if report != [("ok",)]:
        first = str(report[0][0]).removeprefix("*** in database main ***\n").splitlines()[0]
        raise broken_store(path, f"is damaged ({first})")
