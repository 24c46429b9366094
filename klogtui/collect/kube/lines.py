"""Turning a log endpoint's byte stream into timestamped lines, exactly once.

The kubelet answers `GET .../pods/{pod}/log?timestamps=true` with lines of the form
``<RFC 3339 timestamp> SP <message> LF``, sent in network chunks that may end in the
middle of a line or of a UTF-8 character. `LineSplitter` buffers the unfinished tail
(never more than `max_line_bytes`), `ResumePoint` remembers where an instance's log
was read to, and `ReplayFilter` drops the lines a resumed request sends again.

Why the replay happens: `sinceTime` reaches the kubelet with second precision, so a
request resumed at a point inside second S replays every line of S. As stern does
(stern/stern tail.go), we remember S and how many lines of S we have already stored,
and skip that many lines of S in the answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from klogtui.formats import detect_level, parse_timestamp
from klogtui.model import Flag, Record, SourceKey, Stream

__all__ = ["LineSplitter", "ReplayFilter", "ResumePoint", "rfc3339_second", "to_records"]

_NS = 1_000_000_000


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
    """

    last_ts_second: int | None = None
    count_in_that_second: int = 0
    last_ts_ns: int = 0
    lines: int = 0
    done: bool = False
    namespace: str = ""

    def since_time(self) -> str | None:
        """The `sinceTime` to resume with, or None if nothing was read yet."""
        if self.last_ts_second is None:
            return None
        return rfc3339_second(self.last_ts_second)

    def advance(self, ts_ns: int) -> None:
        """Account for one stored line stamped `ts_ns`."""
        second = ts_ns // _NS
        last = self.last_ts_second
        if last is None or second > last:
            self.last_ts_second = second
            self.count_in_that_second = 1
        elif second == last:
            self.count_in_that_second += 1
        # A line older than the newest second (stdout and stderr are not monotonic
        # against each other) is stored but does not move the resume point: a resumed
        # request starts at the newest second and the kubelet filters older lines out.
        if ts_ns > self.last_ts_ns:
            self.last_ts_ns = ts_ns
        self.lines += 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ResumePoint:
        """Parse a stored checkpoint; a value we cannot read starts afresh."""
        try:
            data = json.loads(text)
            second = data.get("last_ts_second")
            return cls(
                last_ts_second=None if second is None else int(second),
                count_in_that_second=int(data.get("count_in_that_second", 0)),
                last_ts_ns=int(data.get("last_ts_ns", 0)),
                lines=int(data.get("lines", 0)),
                done=bool(data.get("done", False)),
                namespace=str(data.get("namespace", "")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


class ReplayFilter:
    """Drops the lines of the resume second that were stored before (one per request)."""

    __slots__ = ("_second", "_to_skip")

    def __init__(self, point: ResumePoint) -> None:
        self._second = point.last_ts_second
        self._to_skip = point.count_in_that_second if point.last_ts_second is not None else 0

    def seen_before(self, ts_ns: int) -> bool:
        """True if the line stamped `ts_ns` is one the resume point already counts."""
        if not self._to_skip:
            return False
        second = ts_ns // _NS
        if second == self._second:
            self._to_skip -= 1
            return True
        if self._second is not None and second > self._second:
            # The replayed second is over: whatever was not replayed is not coming.
            self._to_skip = 0
        return False


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
    advance: bool = True,
) -> list[Record]:
    """Turn lines into records, skipping replayed ones and advancing `point` (unless
    not `advance`: the caller counts lines as it hands them over).

    `extra_flags` is OR-ed into every record's flags (UNTERMINATED for a last line
    that never got its newline).

    A line whose prefix is not a timestamp (not something the kubelet sends) is kept
    raw, flagged MALFORMED and stamped with the newest time seen (or the arrival).
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
            flags |= Flag.MALFORMED
        if replay.seen_before(ts):
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
            flags |= Flag.TRUNCATED
        if advance:
            point.advance(ts)
        append(Record(ts, key, Stream.COMBINED, message, detect_level(message), flags))
    return records
