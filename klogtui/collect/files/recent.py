"""Where a file's recent lines start: the first line stamped at or after a time, found by
binary search on the line timestamps, moved forward to a line that starts an event in
both streams, so no multi-line trace is split between the older and the recent range.

Pure reads of an open file descriptor (``os.pread``); nothing here changes a stream.
"""

from __future__ import annotations

import os

from klogtui.formats import LineDecoder
from klogtui.formats.line_formats import parse_cri, parse_docker
from klogtui.formats.multiline import Grouper

__all__ = ["first_ts", "last_line_end", "last_ts", "recent_start"]

_PROBE = 16 << 10  # bytes read at a probe of the binary search (a line is found in them)
_LINEAR = 32 << 10  # below this span the search reads lines one by one
_LOOK_BACK = 32 << 10  # events are told apart with this much of what comes before ...
_LOOK_AHEAD = 256 << 10  # ... and a line that starts one is looked for this far ahead


def _line_ts(raw: bytes) -> int | None:
    """A CRI or Docker json-file line's timestamp; None if it is neither."""
    parsed = parse_cri(raw) or (parse_docker(raw) if raw[:1] == b"{" else None)
    return None if parsed is None else parsed[0]


def last_line_end(fd: int, size: int) -> int:
    """The end of the last complete line of the first `size` bytes (0 if none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _PROBE)
        nl = os.pread(fd, pos - start, start).rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        pos = start
    return 0


def last_ts(fd: int, end: int) -> int | None:
    """The timestamp of the last stamped line before `end` (a line end), if any."""
    start = max(0, end - _PROBE)
    lines = os.pread(fd, end - start, start).split(b"\n")
    lines.pop()  # empty: end is a line end
    for raw in reversed(lines if start == 0 else lines[1:]):
        ts = _line_ts(raw)
        if ts is not None:
            return ts
    return None


def first_ts(fd: int, start: int) -> int | None:
    """The timestamp of the first stamped line from `start` (a line start), if one is in
    the probe read there; None too if the file cannot be read."""
    try:
        data = os.pread(fd, _PROBE, start)
    except OSError:
        return None
    lines = data.split(b"\n")
    lines.pop()  # the end of the probe: part of a line, or empty
    for raw in lines:
        ts = _line_ts(raw)
        if ts is not None:
            return ts
    return None


def _first_at_or_after(fd: int, lo: int, hi: int, cut_ns: int) -> int:
    """The start of the first line in [lo, hi) stamped at or after cut_ns (hi if none).

    lo and hi are line starts; lines without a timestamp count as older (they go with
    the lines before them).
    """
    while hi - lo > _LINEAR:
        mid = (lo + hi) // 2
        data = os.pread(fd, min(_PROBE, hi - mid), mid)
        nl = data.find(b"\n")
        if nl < 0:
            break  # a line longer than a probe: read one by one from lo
        start = mid + nl + 1
        ts = None
        for raw in data[nl + 1 :].split(b"\n")[:-1]:
            ts = _line_ts(raw)
            if ts is not None:
                break
        if ts is None or start >= hi:
            break
        if ts < cut_ns:
            lo = start
        else:
            hi = mid  # the first line at or after cut starts at or before `start`
    pos = lo
    while pos < hi:
        data = os.pread(fd, min(_PROBE, hi - pos), pos)
        lines = data.split(b"\n")
        if len(lines) == 1:  # one line longer than a probe: skip to its end
            nl = -1
            while nl < 0 and pos < hi:
                pos += len(data)
                data = os.pread(fd, min(_PROBE, hi - pos), pos)
                nl = data.find(b"\n")
            pos += nl + 1
            continue
        lines.pop()
        for raw in lines:
            ts = _line_ts(raw)
            if ts is not None and ts >= cut_ns:
                return pos
            pos += len(raw) + 1
    return hi


def recent_start(fd: int, lo: int, hi: int, cut_ns: int) -> int:
    """Where the file's lines stamped at or after cut_ns start, at an event boundary.

    Args:
        fd: the file, open for reading.
        lo: where its unread lines start (a line start).
        hi: the end of its last complete line.
        cut_ns: the oldest timestamp of the recent range.

    Returns:
        A line start in [lo, hi]: lo if every line is recent, hi if none is. Every line
        before it is older than cut_ns, or part of an event that started before it.
        The line there starts a message (no partial fragments are held before it), and
        in each stream with an event open there, the next message starts an event of
        its own (looked for up to 256 KiB ahead). Events are told apart with the
        32 KiB before it: a trace whose header is further back may still be cut.
    """
    first = _first_at_or_after(fd, lo, hi, cut_ns)
    if first in (lo, hi):
        return first
    begin = max(lo, first - _LOOK_BACK)
    data = os.pread(fd, min(hi, first + _LOOK_AHEAD) - begin, begin)
    if begin > lo:
        nl = data.find(b"\n")
        data, begin = data[nl + 1 :], begin + nl + 1
    decoder = LineDecoder()
    groupers = (Grouper(), Grouper(), Grouper())
    # The line start tried, and the streams with an event open there: each one's next
    # message must start an event of its own, else the event would be split.
    candidate: int | None = None
    waiting: set[int] = set()
    pos = begin
    lines = data.split(b"\n")
    lines.pop()
    for raw in lines:
        if candidate is None and pos >= first and not decoder.pending:
            candidate = pos
            waiting = {s for s in (1, 2) if groupers[s].open_start is not None}
        for p in decoder.feed(raw, 0, pos):
            if not p.stream:
                continue  # unparsable: an event of its own
            g = groupers[p.stream]
            g.push(p.start, p.ts, p.level, p.flags, p.message)
            if candidate is not None and p.stream in waiting:
                if g.open_start == p.start:
                    waiting.discard(p.stream)
                else:
                    candidate = None  # it joins an event from before: look further
        if candidate is not None and not waiting:
            return candidate
        pos += len(raw) + 1
    # A stream's next message lies past what was looked at: far enough to start anew.
    return lo if candidate is None else candidate
