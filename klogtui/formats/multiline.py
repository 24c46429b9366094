"""Physical lines joined into events: a stack trace or panic dump becomes one event with
the line that logged it. Pure: one `Grouper` per (container instance, restart, stream),
fed in order, told the time; it never looks at another stream's lines.

The rules, for each line of a stream (ANSI escapes ignored when classifying):

- A *frame* joins whatever event is open: Java and Node.js ``at …`` lines (indented),
  ``Caused by: …``, an indented ``Suppressed: …``, ``... N more`` and
  ``... N common frames omitted``.
- A *trace start* (a Java exception line ``a.b.SomeException: msg``, ``Exception in
  thread …``, Python's ``Traceback (most recent call last):``, Go's ``panic: …``,
  ``fatal error: …`` and ``goroutine N [...]:``) opens an event of its own, at ERROR
  unless its own line says another level; a Java or Python one joins the open event
  instead when that is a single line at WARN or above (the line that logged it).
- Inside a Python traceback, indented lines, blank lines and the chaining sentences join,
  and the first unindented ``Name: message`` (or bare ``Name``) line is its last line.
- Inside a Go dump, blank lines, ``goroutine N [...]:``, tab-indented lines, function
  lines (``main.main()``), ``created by …`` and ``[signal …`` lines join.
- Inside a Java trace, a blank line joins (a trace with a blank line still is one event).
- Any other line opens a new event.

An event keeps its first line's timestamp, stream and level, and the flags of all its
lines. It is cut at `max_lines` lines or `max_bytes` bytes: the part handed over is
flagged CUT and the rest goes on in a new event flagged CONTINUED (nothing is dropped).
A frame with no event open starts one flagged CONTINUED (its header went before: a
restart, a rotation, or the hold time); after the hold time or a flush it keeps the level
of the trace it continues, so ``level=error`` still shows it. The open event is handed
over when a line that does not join it arrives, at `flush`, or by `expire` once it was
held `hold_s` seconds (or `quiet_s` without a new line): a live tail is never held back
longer than that.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from klogtui.formats.ansi import strip_ansi
from klogtui.formats.codes import CONTINUED, CUT, ERROR, WARN

__all__ = ["Event", "Grouper"]

Mode = Literal["plain", "java", "python", "python_end", "python_chain", "go"]

_FRAME_RE = re.compile(
    r"\s+at \S|\s*Caused by: |\s+Suppressed: |\s*\.\.\. \d+ (?:more|common frames omitted)"
)
_JAVA_EXCEPTION_RE = re.compile(
    r"(?:Exception in thread \"[^\"]*\" )?(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*"
    r"(?:Exception|Error|Throwable|Failure)[\w$]*(?::\s|:?$)"
)
_PYTHON_EXCEPTION_RE = re.compile(r"[A-Za-z_][\w.]*(?::\s|$)")
_PYTHON_CHAIN = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
# Cheap tests that rule most lines out before a regex runs (this runs for every line).
_FRAME_FIRST = frozenset(" \t.C")
_TRACE_FIRST = frozenset("Tpgf")
# Lines opening with none of these neither join a plain event nor start a trace: the
# common case, decided without a regex (digits, "{", "[", capitals but "T" and "E").
_MAY_GROUP_FIRST = frozenset(" \t.CTpgfE\x1b") | frozenset("abcdefghijklmnopqrstuvwxyz")
# Of those, lines opening with these can only start a Java trace (``java.io.X: …``,
# ``Exception in thread …``): one anchored match decides (logfmt and most text open so).
_JAVA_ONLY_FIRST = frozenset("abcdehijklmnoqrstuvwxyzE")
_GOROUTINE_RE = re.compile(r"goroutine \d+ \[[^\]]*\]:$")
_GO_FUNCTION_RE = re.compile(r"[\w./*()\[\]{}%-]+\(.*\)$")


class Event(NamedTuple):
    """One event handed over by a `Grouper`.

    Attributes:
        start: the position given with its first line (a file offset, say).
        ts: its first line's timestamp.
        level: its first line's level (ERROR for a trace with no header).
        flags: its lines' flags, OR-ed, with CUT / CONTINUED.
        message: its lines joined by "\\n", as written.
        lines: how many physical lines it holds.
    """

    start: int
    ts: int
    level: int
    flags: int
    message: str
    lines: int


def _trace_start(text: str) -> Mode | None:
    """The kind of trace this line starts, if it starts one."""
    first = text[:1]
    if first in _TRACE_FIRST:
        if first == "T" and text.startswith("Traceback (most recent call last):"):
            return "python"
        if first == "p" and text.startswith("panic: "):
            return "go"
        if _GOROUTINE_RE.match(text) is not None or text.startswith("fatal error: "):
            return "go"
    # A Java exception line opens with a package name, or with "Exception in thread";
    # the anchored match gives up at the first character that cannot be in a class name.
    if (first.islower() or first == "E") and _JAVA_EXCEPTION_RE.match(text) is not None:
        return "java"
    return None


def _plain_for_sure(text: str) -> bool:
    """The line can neither continue an event nor start a trace (decided cheaply)."""
    first = text[:1]
    if first not in _MAY_GROUP_FIRST:
        return True
    return (
        first in _JAVA_ONLY_FIRST and "\x1b" not in text and _JAVA_EXCEPTION_RE.match(text) is None
    )


def _is_frame(text: str) -> bool:
    return text[:1] in _FRAME_FIRST and _FRAME_RE.match(text) is not None


def _joins(mode: Mode, text: str) -> Mode | None:
    """The mode after `text` if it continues an open event in `mode`, else None."""
    if not text or text.isspace():
        return None if mode == "plain" else mode
    if mode == "python":
        if text[0] in " \t":
            return "python"
        if text in _PYTHON_CHAIN:
            return "python_chain"
        if _PYTHON_EXCEPTION_RE.match(text) is not None:
            return "python_end"
        return None
    if mode == "python_end":
        return "python_chain" if text in _PYTHON_CHAIN else None
    if mode == "python_chain":
        return "python" if text.startswith("Traceback (most recent call last):") else None
    if mode == "go":
        if (
            text[0] == "\t"
            or _GOROUTINE_RE.match(text) is not None
            or text.startswith(("created by ", "[signal ", "panic: ", "\t"))
            or _GO_FUNCTION_RE.match(text) is not None
        ):
            return "go"
        return None
    return "java" if _is_frame(text) else None


# Event(...) runs a generated __new__ in Python; tuple's own (in C) makes the same tuple
# in a third of the time, and one is made for every line.
_new_event = tuple.__new__


class _Open:
    """The event being gathered."""

    __slots__ = ("flags", "last_at", "level", "mode", "opened_at", "parts", "size", "start", "ts")

    def __init__(
        self, start: int, ts: int, level: int, flags: int, text: str, mode: Mode, now: float
    ) -> None:
        self.start = start
        self.ts = ts
        self.level = level
        self.flags = flags
        self.parts = [text]
        self.size = len(text)
        self.mode: Mode = mode
        self.opened_at = now
        self.last_at = now

    def event(self, extra_flags: int = 0) -> Event:
        parts = self.parts
        message = parts[0] if len(parts) == 1 else "\n".join(parts)
        return _new_event(
            Event, (self.start, self.ts, self.level, self.flags | extra_flags, message, len(parts))
        )


class Grouper:
    """Joins one stream's lines into events.

    Args:
        max_lines: an event holding this many lines is cut (default 1000).
        max_bytes: ... or one whose text would grow past this many characters (1 MiB).
        hold_s: `expire` hands over an event open this long (default 0.3 s).
        quiet_s: ... or one that got no line for this long (default 0.1 s).
    """

    __slots__ = ("_cut_level", "_open", "hold_s", "max_bytes", "max_lines", "quiet_s")

    def __init__(
        self,
        max_lines: int = 1000,
        max_bytes: int = 1 << 20,
        hold_s: float = 0.3,
        quiet_s: float = 0.1,
    ) -> None:
        if max_lines < 1 or max_bytes < 1:
            raise ValueError("max_lines and max_bytes must be at least 1")
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.hold_s = hold_s
        self.quiet_s = quiet_s
        self._open: _Open | None = None
        # The level of a trace handed over before it ended (hold time, flush): frames
        # that go on with it get it too. None once another event opened.
        self._cut_level: int | None = None

    @property
    def open_start(self) -> int | None:
        """The position of the open event's first line; None when none is open."""
        o = self._open
        return None if o is None else o.start

    @property
    def deadline(self) -> float | None:
        """When `expire` hands the open event over; None when none is open."""
        o = self._open
        return None if o is None else min(o.opened_at + self.hold_s, o.last_at + self.quiet_s)

    def feed(
        self, start: int, ts: int, level: int, flags: int, text: str, now: float = 0.0
    ) -> list[Event]:
        """Add one line (without its terminator); returns the events it completes (as
        `push`, in a list)."""
        done = self.push(start, ts, level, flags, text, now)
        return [] if done is None else [done]

    def push(
        self, start: int, ts: int, level: int, flags: int, text: str, now: float = 0.0
    ) -> Event | None:
        """Add one line (without its terminator).

        Args:
            start: its position (handed back as the event's `start`).
            ts, level, flags: the line's timestamp, level and flags.
            text: the line as written.
            now: `time.monotonic()` for the hold time.

        Returns:
            The event this line completes, if any (a line completes at most one).
        """
        o = self._open
        if (
            o is not None
            and o.mode == "plain"
            and (text[:1] not in _MAY_GROUP_FIRST or _plain_for_sure(text))
        ):
            # Fast path: the open line is done and this one opens a plain event. The
            # object is reused (this runs for most lines). A plain event is one line.
            parts = o.parts
            done = _new_event(Event, (o.start, o.ts, o.level, o.flags, parts[0], 1))
            o.start, o.ts, o.level, o.flags = start, ts, level, flags
            parts[0] = text
            o.size = len(text)
            o.opened_at = o.last_at = now
            return done
        bare = strip_ansi(text) if "\x1b" in text else text
        frame = bare[:1] in _FRAME_FIRST and _FRAME_RE.match(bare) is not None
        if o is not None:
            if o.mode == "plain":  # the usual case: only a frame joins a plain line
                mode: Mode | None = "java" if frame else None
            else:
                mode = _joins(o.mode, bare)
            if mode is None and len(o.parts) == 1 and o.level >= WARN:
                mode = _trace_start(bare)
                if mode == "go":
                    mode = None  # the Go runtime writes a panic: no logger line leads it
            if mode is not None:
                if len(o.parts) >= self.max_lines or o.size + 1 + len(text) > self.max_bytes:
                    done = o.event(CUT)
                    self._open = _Open(start, ts, o.level, flags | CONTINUED, text, mode, now)
                    return done
                o.parts.append(text)
                o.size += 1 + len(text)
                o.flags |= flags
                o.mode = mode
                o.last_at = now
                return None
        kind = _trace_start(bare)
        if kind is not None:
            new = _Open(start, ts, level if level >= WARN else ERROR, flags, text, kind, now)
        elif frame:
            if o is None and self._cut_level is not None:
                level = max(level, self._cut_level)
            new = _Open(start, ts, level, flags | CONTINUED, text, "java", now)
        else:
            new = _Open(start, ts, level, flags, text, "plain", now)
        if not frame:
            self._cut_level = None
        self._open = new
        return None if o is None else o.event()

    def expire(self, now: float) -> list[Event]:
        """Hand over the open event if it was held past its deadline."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return []
        return self.flush()

    def flush(self) -> list[Event]:
        """Hand over the open event, if any (the stream ended, or was told to)."""
        o = self._open
        if o is None:
            return []
        self._open = None
        self._cut_level = None if o.mode == "plain" else o.level
        return [o.event()]
