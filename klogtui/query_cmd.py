"""`klogtui query`: print matching lines as text or JSON lines, optionally following.

The lines are written by klogtui.export's Printer: coloured and made inert for a
terminal, raw for a pipe.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator

from klogtui.errors import BrokenStoreError, StoreError
from klogtui.export import OutputFormat, Printer
from klogtui.model import LogLine
from klogtui.query.parsed import ParsedQuery
from klogtui.store import commit_log
from klogtui.store.hints import hints_for
from klogtui.store.reader import Reader
from klogtui.store.schema import latest_store

__all__ = ["run_query"]

_PAGE = 5_000
_POLL_S = 0.2


def _all_matches(reader: Reader, query: ParsedQuery) -> Iterator[list[LogLine]]:
    cursor: int | None = None
    while True:
        page = reader.window_after(query, cursor, _PAGE)
        if not page:
            return
        yield page
        cursor = page[-1].id


def _follow(reader: Reader, query: ParsedQuery, printer: Printer, seq: int) -> None:
    """Print the matching lines of every commit after `seq`, in commit order, each once.

    By commit, not by time: a line stamped in the past (a clock stepped back) or years
    ahead is as new as any other, and must neither be skipped nor hide what follows.
    """
    version: int | None = None
    while True:
        # Read before draining: a commit after this read changes it, so is drained next.
        current = reader.data_version()
        if current == version:
            time.sleep(_POLL_S)
            continue
        version = current
        while True:
            got = reader.committed_after(query, seq)
            if got.missed:
                print(
                    f"klogtui: {got.missed} commits were dropped from the store's commit "
                    f"log before -f read them (it keeps {commit_log.KEEP_NS // 10**9} s); "
                    "lines they stored are not printed here, query again to see them",
                    file=sys.stderr,
                )
            printer.write(got.lines)
            if got.seq == seq:
                break
            seq = got.seq


def run_query(args: argparse.Namespace) -> int:
    """Run `klogtui query` with parsed arguments; returns the exit code."""
    db = args.db.expanduser() if args.db else latest_store()
    if not db.exists():
        raise StoreError(f"{db}: no such store")
    reader = Reader(db)
    out = sys.stdout
    color = args.color == "always" or (
        args.color == "auto" and out.isatty() and os.environ.get("NO_COLOR") is None
    )
    fmt: OutputFormat = "jsonl" if args.output == "jsonl" else "text"
    printer = Printer(reader, out, fmt, color, terminal=out.isatty())
    query = ParsedQuery.of(args.query)
    reader.compile(query)  # a query error is reported before anything is printed
    for hint in hints_for(query, reader):
        # On stderr: the hint is advice, and stdout may be piped (`klogtui query | jq`).
        print(f"klogtui: hint: {hint.message}", file=sys.stderr)
    printed = False
    try:
        with reader.snapshot():  # what is printed now and where following starts agree
            seq = reader.last_commit()
            if args.limit == 0:
                for page in _all_matches(reader, query):
                    printer.write(page)
                    printed = printed or bool(page)
            else:
                printer.write(reader.newest(query, args.limit))
    except BrokenStoreError as e:
        out.flush()
        e.printed_some = printed
        raise
    if args.follow:
        # Until now Ctrl-C ended the process at once (__main__.py); following ends on
        # KeyboardInterrupt, with exit 0. (`signal` is imported only here: a query
        # that does not follow does without it.)
        import signal

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            _follow(reader, query, printer, seq)
        except KeyboardInterrupt:
            return 0
    return 0
