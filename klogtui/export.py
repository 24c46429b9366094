"""Matching lines written out as text or JSON lines: `klogtui query`'s output and
the explorer's save (`s`), one format for both.

Text to a terminal is coloured per source and has control characters made visible
(a log line must never move the cursor or recolour the terminal); text to a pipe or a
file is the raw message, so `klogtui query ... | grep` sees what the container wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal, TextIO

from klogtui.model import Flag, Level, LogLine, Source, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.store.reads import LogReader
from klogtui.store.schema import broken_store
from klogtui.text import flag_names, format_ts, text_line

__all__ = ["SAVE_LIMIT", "OutputFormat", "Printer", "export_lines"]

OutputFormat = Literal["text", "jsonl"]

SAVE_LIMIT = 100_000  # the explorer's save (`s`) writes at most the newest this many lines
_EXPORT_PAGE = 5_000
_JSON_C1 = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0))}


class Printer:
    """Formats lines for one output stream."""

    def __init__(
        self, reader: LogReader, out: TextIO, fmt: OutputFormat, color: bool, terminal: bool = False
    ) -> None:
        self.reader = reader
        self.out = out
        self.fmt = fmt
        self.color = color
        self.terminal = terminal or color  # log text must be made inert

    def _source(self, line: LogLine) -> Source | None:
        return self.reader.source(line.source_id)

    def write(self, lines: Iterable[LogLine]) -> None:
        # The page in one write: an unbuffered stdout (PYTHONUNBUFFERED, python -u) would
        # otherwise make two system calls a line.
        formatted: list[str] = []
        for line in lines:
            try:
                formatted.append(self.jsonl(line) if self.fmt == "jsonl" else self.text(line))
            except (TypeError, ValueError, OverflowError) as e:
                # Only damage makes a stored line unprintable (a level of 7, a text ts).
                # The lines before it are written, as they would have been one by one.
                self._write(formatted)
                raise broken_store(self.reader.path, f"is damaged (line {line.id}: {e})") from e
        self._write(formatted)

    def _write(self, formatted: list[str]) -> None:
        if formatted:
            self.out.write("\n".join(formatted) + "\n")
        self.out.flush()

    def jsonl(self, line: LogLine, cursor: bool = False) -> str:
        """The line as one JSON object; with `cursor`, its id (as text) to page from,
        as the collector's API gives it."""
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
            # The owning workload, "" where no collector with API access said.
            "workload": src.workload if src else "",
            "kind": src.workload_kind if src else "",
        }
        # A damaged store may hand back a message that is not text: shown as it is.
        lines = line.message.count("\n") + 1 if isinstance(line.message, str) else 1
        if lines > 1:
            obj["lines"] = lines  # an event: a stack trace with the line that logged it
        if line.fields is not None and isinstance(line.message, str):
            # Imported here: `klogtui query` without -o jsonl does not pay for it.
            from klogtui.formats.fields import fields_of

            fields = fields_of(line.message, line.fields)
            if fields is not None:
                obj["fields"] = fields
        if line.flags:
            obj["flags"] = flag_names(line.flags)
            if line.flags & Flag.GAP:
                # Imported here: only a gap's line needs it (`klogtui query` starts faster).
                from klogtui.gaps import parse_gap

                gap = parse_gap(line.message)
                if gap is not None:
                    # Not a line the container wrote: the range its lines may be missing in.
                    obj["gap"] = {"from": format_ts(gap.start_ns), "to": format_ts(gap.end_ns)}
        if cursor:
            obj["cursor"] = str(line.id)  # text: ids pass 2**53, where JSON readers round
        # json.dumps escapes C0 controls but keeps DEL and C1 (0x9b is CSI on some
        # terminals): escape them too, the JSON means the same.
        return json.dumps(obj, ensure_ascii=False).translate(_JSON_C1)

    def text(self, line: LogLine) -> str:
        src = self._source(line)
        name = f"{src.namespace}/{src.pod}/{src.container}" if src else f"#{line.source_id}"
        return text_line(
            format_ts(line.ts), name, Level(line.level), line.message, self.color, self.terminal
        )


def export_lines(
    reader: LogReader, query: ParsedQuery, out: TextIO, fmt: OutputFormat, limit: int
) -> int:
    """Write the newest `limit` matching lines to out, oldest first, like `klogtui query`.

    Reads a page at a time (back to find where the newest `limit` start, then forward
    to write them), so the result is never held in memory whole.

    Returns:
        The number of lines written.
    """
    cq = reader.compile(query)
    cursor: int | None = None
    taken = 0
    while taken < limit:
        page = reader.window_before(cq, cursor, min(_EXPORT_PAGE, limit - taken))
        if not page:
            break
        taken += len(page)
        cursor = page[0].id
    printer = Printer(reader, out, fmt, color=False)
    after = None if cursor is None else cursor - 1
    written = 0
    while written < taken:
        page = reader.window_after(cq, after, min(_EXPORT_PAGE, taken - written))
        if not page:
            break
        printer.write(page)
        written += len(page)
        after = page[-1].id
    return written
