"""Turning a log endpoint's byte stream into timestamped lines, exactly once.

The kubelet answers `GET .../pods/{pod}/log?timestamps=true` with lines of the form
``<RFC 3339 timestamp> SP <message> LF``, sent in network chunks that may end in the
middle of a line or of a UTF-8 character. `LineSplitter` buffers the unfinished tail
(never more than `max_line_bytes`), `ResumePoint` remembers where an instance's log
was read to, and `ReplayFilter` drops the lines a resumed request sends again.

Why the replay happens: `sinceTime` reaches the kubelet with second precision, so a
request resumed at a point inside second S replays every line of S. We remember S and
the identity (nanosecond stamp and checksum) of each line of S already stored, and skip
exactly those lines in the answer. Skipping by count, as stern does, drops new lines
when the log file rotated inside S: the answer then starts with lines never seen.

Lost lines are told, not hidden: the endpoint reads only the current log file, so when
the first line a resumed request returns is not one already stored, the file starts
after our newest line and whatever was written in between may have been rotated away.
`to_records` then stores a gap marker (klogtui/gaps.py) covering that range.
"""

from __future__ import annotations

import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

from klogtui.formats import detect_level, parse_timestamp
from klogtui.gaps import gap_message
from klogtui.model import Flag, Level, Record, SourceKey, Stream

__all__ = [
    "LineSplitter",
    "ReplayFilter",
    "ResumePoint",
    "line_identity",
    "rfc3339_second",
    "to_records",
]

_NS = 1_000_000_000
_MAX_SEEN = 1024  # identities kept for the newest second; beyond, skip by count
_ROTATED = "the log file was rotated before klogtui read them"
# The per-line path runs for every line of every stream: plain ints (an IntFlag's `&`
# and `|` run in Python), and Record(...)'s generated __new__ spared for tuple's own.
_MALFORMED = int(Flag.MALFORMED)
_TRUNCATED = int(Flag.TRUNCATED)
_COMBINED = int(Stream.COMBINED)
_new_record = tuple.__new__


def line_identity(ts_ns: int, raw: bytes) -> int:
    """A line's identity within its second: its nanoseconds and a checksum of its text."""
    return (ts_ns % _NS) << 32 | zlib.crc32(raw)


def rfc3339_second(second: int) -> str:
    """The RFC 3339 text of a UTC second, as `sinceTime` takes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


@dataclass(slots=True)
class ResumePoint:
    """How far one container instance's log has been stored.

    Attributes:
        last_ts_second: the newest UTC second seen in the log, or None before any line.
        count_in_that_second: lines of `last_ts_second` already stored.
        last_ts_ns: the newest line timestamp seen (ns), 0 before any line.
        lines: lines stored for this instance, in total.
        done: the instance ended and its log was read to the end (never fetched again).
        namespace: the pod's namespace (to forget checkpoints of pods that are gone).
        seen: the `line_identity` of each stored line of `last_ts_second` (empty past
            `_MAX_SEEN`, or in a checkpoint written before identities were kept: then
            the replay is skipped by count and no gap can be told).
    """

    last_ts_second: int | None = None
    count_in_that_second: int = 0
    last_ts_ns: int = 0
    lines: int = 0
    done: bool = False
    namespace: str = ""
    seen: list[int] = field(default_factory=list)

    def since_time(self) -> str | None:
        """The `sinceTime` to resume with, or None if nothing was read yet."""
        if self.last_ts_second is None:
            return None
        return rfc3339_second(self.last_ts_second)

    def identified(self) -> bool:
        """True if `seen` names every stored line of the newest second."""
        return self.last_ts_second is not None and len(self.seen) == self.count_in_that_second

    def advance(self, ts_ns: int, identity: int) -> None:
        """Account for one stored line stamped `ts_ns` with `line_identity` `identity`."""
        second = ts_ns // _NS
        last = self.last_ts_second
        if last is None or second > last:
            self.last_ts_second = second
            self.count_in_that_second = 1
            self.seen = [identity]
        elif second == last:
            self.count_in_that_second += 1
            if self.seen and len(self.seen) < _MAX_SEEN:
                self.seen.append(identity)
            else:
                self.seen = []  # too many to keep: count them
        # A line older than the newest second (stdout and stderr are not monotonic
        # against each other) is stored but does not move the resume point: a resumed
        # request starts at the newest second and the kubelet filters older lines out.
        if ts_ns > self.last_ts_ns:
            self.last_ts_ns = ts_ns
        self.lines += 1

    def to_json(self) -> str:
        # Every field, as dataclasses.asdict gives them (which deep-copies `seen` first:
        # most of the cost, once per network chunk of every stream).
        data = {
            "last_ts_second": self.last_ts_second,
            "count_in_that_second": self.count_in_that_second,
            "last_ts_ns": self.last_ts_ns,
            "lines": self.lines,
            "done": self.done,
            "namespace": self.namespace,
            "seen": self.seen,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ResumePoint:
        """Parse a stored checkpoint; a value we cannot read starts afresh."""
        try:
            data = json.loads(text)
            second = data.get("last_ts_second")
            return cls(
                last_ts_second=None if second is None else int(second),
                count_in_that_second=int(data.get("count_in_that_second", 0)),
                seen=[int(x) for x in data.get("seen", ())],
                last_ts_ns=int(data.get("last_ts_ns", 0)),
                lines=int(data.get("lines", 0)),
                done=bool(data.get("done", False)),
                namespace=str(data.get("namespace", "")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


class ReplayFilter:
    """Drops the lines of the resume second that were stored before (one per request),
    and finds where the answer starts after the newest stored line (a possible gap)."""

    __slots__ = ("_by_count", "_last_ns", "_second", "_seen", "first", "to_skip")

    def __init__(self, point: ResumePoint) -> None:
        self._second = point.last_ts_second
        self._by_count = not point.identified()
        self._seen = Counter(point.seen) if not self._by_count else Counter[int]()
        # Lines of the resume second still to be skipped; while 0, `seen_before` is
        # False (callers test it first: this runs for every line).
        self.to_skip = point.count_in_that_second if point.last_ts_second is not None else 0
        self._last_ns = point.last_ts_ns
        self.first = True  # `gap_before` not asked yet (only the first line can be after one)

    def seen_before(self, ts_ns: int, identity: int) -> bool:
        """True if the line stamped `ts_ns` is one the resume point already holds."""
        if not self.to_skip:
            return False
        second = ts_ns // _NS
        if second == self._second:
            if self._by_count:
                self.to_skip -= 1
                return True
            if self._seen[identity] > 0:
                self._seen[identity] -= 1
                self.to_skip -= 1
                return True
            return False
        if self._second is not None and second > self._second:
            # The replayed second is over: whatever was not replayed is not coming.
            self.to_skip = 0
        return False

    def gap_before(self, ts_ns: int, stored: bool) -> tuple[int, int] | None:
        """For the answer's first line: the range that may be missing before it, if any.

        A resumed request's answer begins at or before the newest stored line as long as
        the log file still holds that line; a first line that is new and newer means the
        file now starts after it.
        """
        if not self.first:
            return None
        self.first = False
        if stored or self._by_count or self._second is None or ts_ns < self._last_ns:
            return None  # (an older line: stdout and stderr are not in step, no gap)
        return (min(self._last_ns + 1, ts_ns), ts_ns)


class LineSplitter:
    """Cuts network chunks into lines, holding at most `max_line_bytes` of a partial one.

    A line longer than the cap keeps its first `max_line_bytes` bytes; the rest is
    counted and dropped up to the next newline.
    """

    __slots__ = ("_buf", "_dropped", "_max")

    def __init__(self, max_line_bytes: int = 1 << 20) -> None:
        self._max = max_line_bytes
        self._buf = bytearray()
        self._dropped = 0

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[tuple[bytes, int]]:
        """Add a chunk; returns the completed lines (without LF) and bytes cut from each."""
        out: list[tuple[bytes, int]] = []
        start = 0
        n = len(chunk)
        buf = self._buf
        while start < n:
            nl = chunk.find(b"\n", start)
            end = n if nl < 0 else nl
            room = self._max - len(buf)
            piece = end - start
            if piece <= room:
                buf += chunk[start:end]
            else:
                buf += chunk[start : start + room]
                self._dropped += piece - room
            if nl < 0:
                break
            out.append((bytes(buf), self._dropped))
            buf.clear()
            self._dropped = 0
            start = nl + 1
        return out

    def take(self) -> tuple[bytes, int]:
        """Hand over the unfinished line (the stream ended for good) and forget it."""
        line = (bytes(self._buf), self._dropped)
        self._buf.clear()
        self._dropped = 0
        return line


def _cut(data: bytes) -> bytes:
    """`data` without a trailing incomplete UTF-8 character (it was cut at the cap)."""
    k = len(data)
    back = 0
    while k > 0 and back < 4 and data[k - 1] & 0xC0 == 0x80:
        k -= 1
        back += 1
    if k > 0 and data[k - 1] >= 0xC0:
        lead = data[k - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if back + 1 < need:
            return data[: k - 1]
    return data


def to_records(
    lines: list[tuple[bytes, int]],
    key: SourceKey,
    point: ResumePoint,
    replay: ReplayFilter,
    arrival_ns: int,
    extra_flags: int = 0,
    identities: list[int] | None = None,
) -> list[Record]:
    """Turn lines into records, skipping replayed ones and advancing `point` (unless
    `identities` is given: each line's `line_identity` is appended to it instead, and
    the caller counts lines as it hands them over).

    `extra_flags` is OR-ed into every record's flags (UNTERMINATED for a last line
    that never got its newline).

    A line whose prefix is not a timestamp (not something the kubelet sends) is kept
    raw, flagged MALFORMED and stamped with the newest time seen (or the arrival).

    A gap marker goes before the first line when the answer starts after the newest
    stored line (`ReplayFilter.gap_before`); it does not move the resume point (nor
    gets an entry in `identities`).
    """
    records: list[Record] = []
    append = records.append
    for raw, dropped in lines:
        space = raw.find(b" ")
        head = raw if space < 0 else raw[:space]
        flags = extra_flags
        try:
            ts = parse_timestamp(head)
            body = b"" if space < 0 else raw[space + 1 :]
        except ValueError:
            ts = point.last_ts_ns or arrival_ns
            body = raw
            flags |= _MALFORMED
        identity = line_identity(ts, raw)
        stored = replay.to_skip != 0 and replay.seen_before(ts, identity)
        # A line without a timestamp was stamped by us: it says nothing about a gap.
        gap = None if not replay.first or flags & _MALFORMED else replay.gap_before(ts, stored)
        if gap is not None:
            message = gap_message(gap[0], gap[1], _ROTATED)
            append(Record(gap[0], key, Stream.COMBINED, message, Level.WARN, Flag.GAP))
        if stored:
            continue
        if dropped:
            kept = _cut(body)
            dropped += len(body) - len(kept)
            body = kept
        elif body[-1:] == b"\r":
            # CRI-O keeps the CR of CRLF output; the file reader drops it too.
            body = body[:-1]
        message = body.decode("utf-8", "backslashreplace")
        if dropped:
            message += f" …[truncated {dropped} bytes]"
            flags |= _TRUNCATED
        if identities is None:
            point.advance(ts, identity)
        else:
            identities.append(identity)
        append(
            _new_record(Record, (ts, key, _COMBINED, message, detect_level(message), flags, None))
        )
    return records
