"""Log text made safe and readable, headless: inert control characters, timestamps,
flag names, and the colours of sources and levels.

Shared by `klogtui query`, the export and the UI's panes and screens, so a line looks
the same wherever it is shown.
"""

from __future__ import annotations

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
]

# The colours of sources and levels, as SGR codes for a terminal (`klogtui query`) and
# as Rich styles for the UI. Source hues are mid-saturation, readable on dark and
# light backgrounds; red and yellow are left out because they mean error and warning.
SOURCE_SGR = (32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96, 37)
SOURCE_STYLES = (
    "#5fafd7",
    "#d787d7",
    "#87af5f",
    "#d7af87",
    "#5fd7af",
    "#af87ff",
    "#87d7ff",
    "#ff87af",
    "#afd75f",
    "#8787d7",
    "#5f87af",
    "#d7875f",
)
LEVEL_SGR = {Level.WARN: "33", Level.ERROR: "31", Level.FATAL: "1;31"}
LEVEL_STYLES = {Level.WARN: "yellow", Level.ERROR: "red", Level.FATAL: "bold red"}

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
