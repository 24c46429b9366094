"""Log text made safe and readable, headless: inert control characters, timestamps,
flag names, and the colours of sources and levels.

Shared by `klogtui query`, the export and the UI's panes and screens, so a line looks
the same wherever it is shown.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from klogtui.model import Flag, Level

__all__ = [
    "LEVEL_SGR",
    "LEVEL_STYLES",
    "SOURCE_SGR",
    "SOURCE_STYLES",
    "flag_names",
    "format_ts",
    "inert",
    "inert_lines",
    "text_line",
]

# The colours of sources and levels, one palette written two ways: SGR parameters for a
# terminal (`klogtui query`) and Rich styles for the UI. Sources take colours of the
# xterm 256-colour cube (index 16 + 36r + 6g + b): mid-saturation, readable on dark and
# light backgrounds; red and yellow are left out because they mean error and warning.
_SOURCE_COLOURS = (74, 176, 107, 180, 79, 141, 117, 211, 149, 104, 67, 173)
SOURCE_SGR = tuple(f"38;5;{n}" for n in _SOURCE_COLOURS)
SOURCE_STYLES = tuple(f"color({n})" for n in _SOURCE_COLOURS)
# Levels take the terminal's own yellow and red (ANSI colours 3 and 1), bold for fatal.
_LEVEL_COLOURS = {Level.WARN: (3, False), Level.ERROR: (1, False), Level.FATAL: (1, True)}
LEVEL_SGR = {lv: f"{'1;' if bold else ''}3{n}" for lv, (n, bold) in _LEVEL_COLOURS.items()}
LEVEL_STYLES = {
    lv: f"{'bold ' if bold else ''}color({n})" for lv, (n, bold) in _LEVEL_COLOURS.items()
}

# Every C0/C1 control except tab becomes a visible escape (\x1b, \r, …).
_INERT = {
    c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F, *range(0x80, 0xA0))
}


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


def inert_lines(message: str) -> str:
    """An event's text made inert line by line: a stack trace reads as the lines it was
    written as, not as one line of ``\x0a`` escapes."""
    if not isinstance(message, str) or "\n" not in message:
        return inert(message)  # (a damaged store's non-text message fails in inert)
    return "\n".join(inert(part) for part in message.split("\n"))


def text_line(ts: str, name: str, level: Level, message: str, color: bool, terminal: bool) -> str:
    """One line of `klogtui query -o text`: time, source name, message (coloured, or
    made inert for a terminal, or raw for a pipe)."""
    if not color:
        return f"{ts} {name} {inert_lines(message) if terminal else message}"
    hue = SOURCE_SGR[zlib.crc32(name.encode()) % len(SOURCE_SGR)]
    message = inert_lines(message)
    sgr = LEVEL_SGR.get(level)
    if sgr:
        message = f"\x1b[{sgr}m{message}\x1b[0m"
    return f"\x1b[2m{ts}\x1b[0m \x1b[{hue}m{inert(name)}\x1b[0m {message}"
