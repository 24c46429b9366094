"""`klogtui query`: print matching lines as text or JSON lines, optionally following.

Text to a terminal is coloured per source and has control characters made visible
(a log line must never move the cursor or recolour the terminal); text to a pipe is
the raw message, so `klogtui query ... | grep` sees what the container wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from klogtui.errors import StoreError
from klogtui.gaps import parse_gap
from klogtui.model import Flag, Level, LogLine, Source, Stream
from klogtui.store import commit_log
from klogtui.store.reader import Reader
from klogtui.store.schema import broken_store, default_db_path

__all__ = ["Printer", "flag_names", "format_ts", "inert", "run_query"]

_PAGE = 5_000
_POLL_S = 0.2
_PALETTE = (32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96, 37)
_LEVEL_SGR = {Level.WARN: "33", Level.ERROR: "31", Level.FATAL: "1;31"}

# Every C0/C1 control except tab becomes a visible escape (\x1b, \r, …).
_INERT = {
    c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F, *range(0x80, 0xA0))
}


_JSON_C1 = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0))}


def inert(text: str) -> str:
    """Text safe to print to a terminal: control characters shown, not obeyed."""
    return text.translate(_INERT)


def flag_names(flags: int) -> list[str]:
    """The names of a line's flags, e.g. ["truncated"], in bit order."""
    return [str(f.name).lower() for f in Flag if f and flags & f]


def format_ts(ts_ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds: 2026-11-24T10:00:00.123456789Z."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def _latest_store() -> Path:
    """The most recently written store under the data dir (the one a user just used)."""
    directory = default_db_path("local").parent

    def written(db: Path) -> float:
        wal = Path(f"{db}-wal")  # commits land in the WAL first
        return max(db.stat().st_mtime, wal.stat().st_mtime if wal.exists() else 0.0)

    stores = sorted(directory.glob("*.db"), key=written) if directory.is_dir() else []
    if not stores:
        raise StoreError(
            f"no store found in {directory}; run `klogtui` or `klogtui collect` first, "
            "or pass --db FILE"
        )
    return stores[-1]


class Printer:
    """Formats lines for one output stream."""

    def __init__(
        self, reader: Reader, out: TextIO, fmt: str, color: bool, terminal: bool = False
    ) -> None:
        self.reader = reader
        self.out = out
        self.fmt = fmt
        self.color = color
        self.terminal = terminal or color  # log text must be made inert

    def _source(self, line: LogLine) -> Source | None:
        return self.reader.source(line.source_id)

    def write(self, lines: Iterable[LogLine]) -> None:
        write = self.out.write
        for line in lines:
            try:
                write(self.jsonl(line) if self.fmt == "jsonl" else self.text(line))
            except (TypeError, ValueError, OverflowError) as e:
                # Only damage makes a stored line unprintable (a level of 7, a text ts).
                raise broken_store(self.reader.path, f"is damaged (line {line.id}: {e})") from e
            write("\n")
        self.out.flush()

    def jsonl(self, line: LogLine) -> str:
        src = self._source(line)
        obj = {
            "ts": format_ts(line.ts),
            "namespace": src.namespace if src else "",
            "pod": src.pod if src else "",
            "container": src.container if src else "",
            "restart": src.key.restart if src else 0,
            "stream": Stream(line.stream).label,
            "level": Level(line.level).label or "none",  # the query language's name
            "message": line.message,
            "labels": src.labels if src else {},
            "node": src.node if src else "",
            "pod_uid": src.key.pod_uid if src else "",
        }
        if line.flags:
            obj["flags"] = flag_names(line.flags)
            gap = parse_gap(line.message) if line.flags & Flag.GAP else None
            if gap is not None:
                # Not a line the container wrote: the range its lines may be missing in.
                obj["gap"] = {"from": format_ts(gap.start_ns), "to": format_ts(gap.end_ns)}
        # json.dumps escapes C0 controls but keeps DEL and C1 (0x9b is CSI on some
        # terminals): escape them too, the JSON means the same.
        return json.dumps(obj, ensure_ascii=False).translate(_JSON_C1)

    def text(self, line: LogLine) -> str:
        src = self._source(line)
        name = f"{src.namespace}/{src.pod}/{src.container}" if src else f"#{line.source_id}"
        ts = format_ts(line.ts)
        if not self.color:
            message = inert(line.message) if self.terminal else line.message
            return f"{ts} {name} {message}"
        hue = _PALETTE[zlib.crc32(name.encode()) % len(_PALETTE)]
        message = inert(line.message)
        sgr = _LEVEL_SGR.get(Level(line.level))
        if sgr:
            message = f"\x1b[{sgr}m{message}\x1b[0m"
        return f"\x1b[2m{ts}\x1b[0m \x1b[{hue}m{inert(name)}\x1b[0m {message}"


def _all_matches(reader: Reader, query: str) -> Iterator[list[LogLine]]:
    cursor: int | None = None
    while True:
        page = reader.window_after(query, cursor, _PAGE)
        if not page:
            return
        yield page
        cursor = page[-1].id


def _follow(reader: Reader, query: str, printer: Printer, seq: int) -> None:
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
    db = args.db.expanduser() if args.db else _latest_store()
    if not db.exists():
        raise StoreError(f"{db}: no such store")
    reader = Reader(db)
    out = sys.stdout
    color = args.color == "always" or (
        args.color == "auto" and out.isatty() and os.environ.get("NO_COLOR") is None
    )
    printer = Printer(reader, out, args.output, color, terminal=out.isatty())
    reader.compile(args.query)  # a query error is reported before anything is printed
    with reader.snapshot():  # what is printed now and where following starts agree
        seq = reader.last_commit()
        if args.limit == 0:
            for page in _all_matches(reader, args.query):
                printer.write(page)
        else:
            printer.write(reader.newest(args.query, args.limit))
    if args.follow:
        # Until now Ctrl-C ended the process at once (__main__.py); following ends on
        # KeyboardInterrupt, with exit 0.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            _follow(reader, args.query, printer, seq)
        except KeyboardInterrupt:
            return 0
    return 0
