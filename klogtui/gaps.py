"""Gap markers: a stored line saying that lines of its source may be missing.

When the collector can tell that lines may have been lost unread (a remote log file
rotated before its lines were fetched), it stores one line flagged `Flag.GAP` in that
source, stamped with the start of the gap, whose message says the time range and why.
Readers (the timeline, `klogtui query -o jsonl`, the sources tree) find the range again
with `parse_gap`; the message starts with a fixed phrase so gaps are found through the
full-text index without scanning every line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from klogtui.model import Flag, LogLine
from klogtui.text import format_ts

__all__ = ["GAP_PHRASE", "GAP_QUERY", "GapRange", "gap_counts", "gap_message", "parse_gap"]

GAP_PHRASE = "klogtui gap"
GAP_QUERY = f'"{GAP_PHRASE}"'  # the query that finds gap markers (and lines quoting them)
_RANGE = re.compile(r"^klogtui gap: lines from (\S+) to (\S+) may be missing")


class GapRange(NamedTuple):
    """The times (UTC ns) between which lines may be missing."""

    start_ns: int
    end_ns: int


def gap_message(start_ns: int, end_ns: int, why: str) -> str:
    """The message of a gap marker covering (start_ns, end_ns)."""
    start, end = format_ts(start_ns), format_ts(end_ns)
    return f"{GAP_PHRASE}: lines from {start} to {end} may be missing ({why})"


def parse_gap(message: str) -> GapRange | None:
    """The range a gap marker's message covers; None if it is not one."""
    m = _RANGE.match(message)
    if m is None:
        return None
    # Imported here: the formats package (its decoder) would add ~10 ms to every
    # `klogtui query` start, and only gap markers need it.
    from klogtui.formats.timestamps import parse_timestamp

    try:
        return GapRange(parse_timestamp(m[1]), parse_timestamp(m[2]))
    except ValueError:
        return None


def gap_counts(lines: Iterable[LogLine]) -> dict[int, int]:
    """Gap markers per source id among `lines` (e.g. what GAP_QUERY found)."""
    counts: dict[int, int] = {}
    for line in lines:
        if line.flags & Flag.GAP:
            counts[line.source_id] = counts.get(line.source_id, 0) + 1
    return counts
