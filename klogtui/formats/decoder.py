"""Container log lines reassembled into messages: one `LineDecoder` per file.

It takes the format from the first line that parses (kubelet decides on the first
line too), joins partial fragments per stream, caps a message's size, keeps lines it
cannot parse (raw, flagged), and can save and restore its pending fragments so they
survive a restart.

Choices a user can notice:
- A single trailing carriage return is removed from every reassembled message (CRI-O
  keeps the ``\\r`` of CRLF output; nobody wants to see it). Malformed lines are kept
  exactly as read.
- Invalid UTF-8 stays readable: ``\\xff`` becomes the four characters ``\\xff``.
- A message longer than ``max_line_bytes`` keeps its first ``max_line_bytes`` bytes
  (cut back to a character boundary) and ends with `` …[truncated N bytes]``.

Positions: the caller may give each line's file offset; a message then carries its first
fragment's (`Parsed.start`), so a checkpoint can point at the start of what is not stored
yet instead of saving it, and `skip` drops a stream's lines already stored when a file is
read again from such a checkpoint (the other stream's may be stored further on).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from klogtui.formats.codes import MALFORMED, STDERR, STDOUT, TRUNCATED, UNTERMINATED
from klogtui.formats.levels import level_of
from klogtui.formats.line_formats import parse_cri, parse_docker
from klogtui.formats.timestamps import (
    FRACTION_SCALE,
    MINUTES_CACHE,
    NS,
    SECOND_DOT,
    parse_timestamp_full,
)

__all__ = ["LineDecoder", "Parsed"]


@dataclass(slots=True)
class Parsed:
    """One reassembled message from a log file.

    Attributes:
        ts: UTC nanoseconds: the first fragment's timestamp, or the arrival time of
            a malformed line.
        stream: `klogtui.model.Stream` value (0 for malformed lines).
        message: the text, without line terminator.
        level: `klogtui.model.Level` value from `detect_level`.
        flags: `klogtui.model.Flag` bits.
        start: the position given with its first fragment (-1 for fragments restored
            from a saved state, whose position is not known).
    """

    ts: int
    stream: int
    message: str
    level: int
    flags: int
    start: int = 0


class _Pending:
    """Fragments of one stream's unfinished message."""

    __slots__ = ("dropped", "parts", "pos", "size", "ts")

    def __init__(self, ts: int, pos: int) -> None:
        self.ts = ts
        self.pos = pos  # the first fragment's position; -1 if restored from a state
        self.parts: list[bytes] = []
        self.size = 0  # bytes held in parts
        self.dropped = 0  # bytes past the hold limit, counted but not kept


_UNKNOWN_FORMAT = 0
_CRI = 1
_DOCKER = 2
_FORMAT_NAMES = {_UNKNOWN_FORMAT: None, _CRI: "cri", _DOCKER: "docker"}
_FORMAT_CODES = {name: code for code, name in _FORMAT_NAMES.items()}
_STATE_VERSION = 1


class LineDecoder:
    """Decodes one container log file's lines into messages.

    Feed it every line of the file in order, each without its trailing newline.
    The format (CRI or Docker json-file) is taken from the first line that parses;
    after that, lines that do not parse in that format are malformed. Partial
    fragments are joined per stream (stdout and stderr interleave); a message's
    timestamp is its first fragment's. Malformed lines are kept whole, stamped with
    their arrival time, stream 0, flag MALFORMED, and counted in `malformed`.

    Args:
        max_line_bytes: size cap of one message in bytes (default 1 MiB).
    """

    __slots__ = ("_format", "_hold", "_max", "_pending", "malformed", "skip")

    def __init__(self, max_line_bytes: int = 1 << 20) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self._max = max_line_bytes
        # Hold 3 bytes past the cap so the cut can step back to a character boundary.
        self._hold = max_line_bytes + 3
        self._format = _UNKNOWN_FORMAT
        # Indexed by stream (1 stdout, 2 stderr); slot 0 unused.
        self._pending: list[_Pending | None] = [None, None, None]
        self.malformed = 0
        # Per stream: its lines at positions below this are already stored; dropped.
        self.skip = [0, 0, 0]

    @property
    def pending(self) -> bool:
        """True while partial fragments are held, waiting for their last fragment."""
        p = self._pending
        return p[1] is not None or p[2] is not None

    @property
    def format(self) -> str | None:
        """The detected format, "cri" or "docker"; None before the first valid line."""
        return _FORMAT_NAMES[self._format]

    def pending_start(self, stream: int) -> int | None:
        """Where the stream's held fragments start; None if none (or not known)."""
        p = self._pending[stream]
        return None if p is None or p.pos < 0 else p.pos

    def feed(self, raw: bytes, arrival_ns: int, pos: int = 0) -> list[Parsed]:
        """Decode one line.

        Args:
            raw: the line without its trailing ``b"\\n"``.
            arrival_ns: when it was read, UTC ns; the timestamp of a malformed line.
            pos: its position (file offset), compared with `skip` and kept in `start`.

        Returns:
            The messages this line completes: none for a partial fragment, else one.
        """
        return self.feed_lines([raw], arrival_ns, pos)

    def feed_lines(self, lines: list[bytes], arrival_ns: int, pos: int = 0) -> list[Parsed]:
        """Decode consecutive lines of the file, as `feed` would one by one.

        Args:
            lines: the lines, each without its ``b"\\n"``.
            arrival_ns: when they were read, UTC ns.
            pos: the position of the first; each next one starts after the previous
                line and its newline.

        Returns:
            The messages they complete, in order.
        """
        out: list[Parsed] = []
        append = out.append
        pending = self._pending
        skip = self.skip
        cap = self._max
        for raw in lines:
            at = pos
            pos += len(raw) + 1
            if self._format != _CRI:
                out += self._feed_other(raw, arrival_ns, at)
                continue
            # The common case, inlined (one loop for a whole read, no call per line).
            try:
                ts_b, stream_b, tags, content = raw.split(b" ", 3)
            except ValueError:
                out += self._malformed_line(raw, arrival_ns, at)
                continue
            if stream_b == b"stdout":
                stream = STDOUT
            elif stream_b == b"stderr":
                stream = STDERR
            else:
                out += self._malformed_line(raw, arrival_ns, at)
                continue
            # parse_timestamp's fast path, inlined: this runs for every line.
            minute = MINUTES_CACHE.get(ts_b[:17])
            second = SECOND_DOT.get(ts_b[17:20])
            digits = ts_b[20:-1]
            count = len(digits)
            if (
                minute is not None
                and second is not None
                and ts_b[-1] == 90  # "Z"
                and count < 10
                and digits.isdigit()
            ):
                ts = (minute + second) * NS + int(digits) * FRACTION_SCALE[count]
            else:
                try:
                    ts = parse_timestamp_full(ts_b)
                except ValueError:
                    out += self._malformed_line(raw, arrival_ns, at)
                    continue
            if at < skip[stream]:
                continue
            if tags == b"F" and pending[stream] is None and len(content) <= cap:
                if content[-1:] == b"\r":
                    content = content[:-1]
                message = content.decode("utf-8", "backslashreplace")
                append(Parsed(ts, stream, message, level_of(content, message), 0, at))
            else:
                out += self._fragment(ts, stream, tags.split(b":", 1)[0] == b"P", content, at)
        return out

    def flush(self, arrival_ns: int) -> list[Parsed]:
        """Emit the partial messages still held, flagged UNTERMINATED.

        Call it when a file ends for good (rotated away, deleted) or a partial has
        waited too long. Each message keeps its first fragment's timestamp.

        Args:
            arrival_ns: when the flush happens (kept for symmetry with `feed`; the
                messages carry their own timestamps).

        Returns:
            The held messages, oldest first.
        """
        out: list[Parsed] = []
        for stream in (STDOUT, STDERR):
            p = self._pending[stream]
            if p is not None:
                self._pending[stream] = None
                data = b"".join(p.parts)
                out.append(self._finish(p.ts, stream, data, p.dropped, UNTERMINATED, p.pos))
        out.sort(key=lambda r: r.ts)
        return out

    def state(self, positioned: bool = False) -> dict[str, Any]:
        """The decoder's resumable state as a JSON-able dict (for checkpoints).

        Holds the detected format and the pending fragments (base64). Restoring it
        into a fresh decoder and feeding the rest of the file gives exactly what this
        decoder would have produced.

        Args:
            positioned: leave out fragments whose position is known: the checkpoint
                points at or before them, so they are read again.
        """
        pending: dict[str, dict[str, Any]] = {}
        for stream in (STDOUT, STDERR):
            p = self._pending[stream]
            if p is not None and not (positioned and p.pos >= 0):
                pending[str(stream)] = {
                    "ts": p.ts,
                    "data": base64.b64encode(b"".join(p.parts)).decode("ascii"),
                    "dropped": p.dropped,
                }
        return {"v": _STATE_VERSION, "format": _FORMAT_NAMES[self._format], "pending": pending}

    def restore(self, state: dict[str, Any]) -> None:
        """Replace this decoder's format and pending fragments with a saved `state()`.

        Args:
            state: a dict from `state`, possibly after a JSON round trip.

        Raises:
            ValueError: if `state` is not one `state` produces.
        """
        try:
            if state["v"] != _STATE_VERSION:
                raise ValueError(f"unsupported decoder state version {state['v']!r}")
            fmt = _FORMAT_CODES[state["format"]]
            slots: list[_Pending | None] = [None, None, None]
            for key, saved in state["pending"].items():
                stream = int(key)
                if stream not in (STDOUT, STDERR):
                    raise ValueError(f"bad stream {key!r}")
                p = _Pending(int(saved["ts"]), -1)
                data = base64.b64decode(saved["data"], validate=True)
                if data:
                    p.parts.append(data[: self._hold])
                    p.size = min(len(data), self._hold)
                p.dropped = int(saved["dropped"]) + len(data) - p.size
                slots[stream] = p
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"invalid line decoder state: {exc}") from exc
        self._format = fmt
        self._pending = slots

    # -- internals

    def _feed_other(self, raw: bytes, arrival_ns: int, pos: int) -> list[Parsed]:
        """`feed` for a Docker json-file line, or before the format is known."""
        if self._format == _DOCKER:
            parsed = parse_docker(raw)
            if parsed is None:
                return self._malformed_line(raw, arrival_ns, pos)
            if pos < self.skip[parsed[1]]:
                return []
            return self._fragment(*parsed, pos)
        # Format not known yet: the first line that parses decides, like kubelet.
        parsed = parse_cri(raw)
        if parsed is not None:
            self._format = _CRI
        elif raw[:1] == b"{":
            parsed = parse_docker(raw)
            if parsed is not None:
                self._format = _DOCKER
        if parsed is None:
            return self._malformed_line(raw, arrival_ns, pos)
        if pos < self.skip[parsed[1]]:
            return []
        return self._fragment(*parsed, pos)

    def _fragment(
        self, ts: int, stream: int, partial: bool, content: bytes, pos: int
    ) -> list[Parsed]:
        """Add a parsed line to its stream's pending message; emit it when complete."""
        p = self._pending[stream]
        if p is None:
            if not partial:
                return [self._finish(ts, stream, content, 0, 0, pos)]
            p = self._pending[stream] = _Pending(ts, pos)
        room = self._hold - p.size
        if len(content) <= room:
            p.parts.append(content)
            p.size += len(content)
        else:
            if room > 0:
                p.parts.append(content[:room])
                p.size += room
                p.dropped += len(content) - room
            else:
                p.dropped += len(content)
        if partial:
            return []
        self._pending[stream] = None
        return [self._finish(p.ts, stream, b"".join(p.parts), p.dropped, 0, p.pos)]

    def _finish(
        self, ts: int, stream: int, data: bytes, dropped: int, flags: int, pos: int
    ) -> Parsed:
        """Build a message from its bytes: cap its size, strip one CR, decode once."""
        cap = self._max
        total = len(data) + dropped
        if total > cap:
            data, cut = _cut(data, cap)
            message = data.decode("utf-8", "backslashreplace")
            message += f" …[truncated {total - cut} bytes]"
            flags |= TRUNCATED
        else:
            if data[-1:] == b"\r":
                data = data[:-1]
            message = data.decode("utf-8", "backslashreplace")
        return Parsed(ts, stream, message, level_of(data, message), flags, pos)

    def _malformed_line(self, raw: bytes, arrival_ns: int, pos: int) -> list[Parsed]:
        if pos < self.skip[0]:
            return []  # stored before (read again from an earlier checkpoint)
        self.malformed += 1
        flags = MALFORMED
        kept = raw
        if len(raw) > self._max:
            kept, cut = _cut(raw, self._max)
            message = kept.decode("utf-8", "backslashreplace")
            message += f" …[truncated {len(raw) - cut} bytes]"
            flags |= TRUNCATED
        else:
            message = raw.decode("utf-8", "backslashreplace")
        return [Parsed(arrival_ns, 0, message, level_of(kept, message), flags, pos)]


def _cut(data: bytes, cap: int) -> tuple[bytes, int]:
    """The first `cap` bytes of `data` (len > cap), stepped back off a split character.

    Returns the kept bytes and their length.
    """
    cut = cap
    # data[cut] is the first byte dropped; if it continues a multi-byte character,
    # drop that whole character rather than keep a broken half of it.
    k = cut
    while k > 0 and k > cut - 3 and data[k] & 0xC0 == 0x80:
        k -= 1
    if k < cut and data[k] >= 0xC0:
        cut = k
    return data[:cut], cut
