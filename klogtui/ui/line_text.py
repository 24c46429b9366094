"""One stored line as Rich Text: time, source tag and message, log text kept as data.

The message is never parsed as markup (it goes in through `Text(str)` / `append`) and
terminal control characters are shown as visible escapes (`\\x1b`), styled so they
stand apart from a literal backslash typed by the program. Times are shown in UTC,
like `klogtui query` and like the query language reads times without an offset.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TypedDict, Unpack

from rich.text import Text

from klogtui.model import Flag, Level, LogLine, Source
from klogtui.text import LEVEL_STYLES, SOURCE_STYLES, inert

__all__ = [
    "ESCAPE_STYLE",
    "HIGHLIGHT_STYLE",
    "LineOptions",
    "TIME_STYLE",
    "fit_tag",
    "format_line",
    "format_parts",
    "format_time",
    "highlight_pattern",
    "source_style",
    "source_tag",
]

TIME_STYLE = "dim"
ESCAPE_STYLE = "reverse dim"
HIGHLIGHT_STYLE = "bold #000000 on #e5c07b"
_MARK_STYLE = "dim italic"
_GAP_STYLE = "bold black on yellow"
_NS_PER_DAY = 86_400 * 10**9
# What inert() rewrites: every C0/C1 control except tab.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]+")
_TOKEN = re.compile(r"\w+")


def source_style(source_id: int) -> str:
    """The colour of a source's tag: stable for the source, neighbours differ."""
    return SOURCE_STYLES[source_id % len(SOURCE_STYLES)]


def source_tag(source: Source | None, source_id: int) -> str:
    """A short name for a line's source: `pod/container`, `#restart` after a restart."""
    if source is None:
        return f"#{source_id}"
    tag = f"{source.pod}/{source.container}"
    if source.key.restart:
        tag += f"#{source.key.restart}"
    return tag


def fit_tag(tag: str, width: int) -> str:
    """Cut a `pod/container` tag to width cells, shortening the pod name first."""
    if len(tag) <= width:
        return tag
    pod, slash, rest = tag.partition("/")
    room = width - len(rest) - 2  # the cut pod name, "…" and "/"
    if slash and room >= 4:
        return f"{pod[:room]}…/{rest}"
    return tag[: width - 1] + "…"


def format_time(ts_ns: int, now_ns: int | None = None) -> str:
    """`HH:MM:SS.mmmZ` (UTC) for a line of now's UTC day, `MM-DD HH:MM:SS.mmmZ` otherwise."""
    today = (time.time_ns() if now_ns is None else now_ns) // _NS_PER_DAY
    seconds, nanos = divmod(ts_ns, 10**9)
    tm = time.gmtime(seconds)
    clock = f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}.{nanos // 1_000_000:03d}Z"
    if ts_ns // _NS_PER_DAY == today:
        return clock
    return f"{tm.tm_mon:02d}-{tm.tm_mday:02d} {clock}"


@lru_cache(maxsize=64)
def highlight_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """A regex finding the query's text terms in a message, roughly as FTS5 does.

    A term's words match case-insensitively at the start of a word, separated by any
    non-word run (FTS5 tokens ignore punctuation); a term without letters or digits
    (`::`) matches as an exact substring, as the store matches it.
    """
    alternatives: list[str] = []
    for term in terms:
        words = _TOKEN.findall(term)
        if words:
            alternatives.append(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words))
        elif term:
            alternatives.append(re.escape(term))
    if not alternatives:
        return None
    # Longest first, so a phrase wins over a word it starts with.
    alternatives.sort(key=len, reverse=True)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _message_text(message: str, level: int) -> Text:
    text = Text(no_wrap=False, end="")
    style = LEVEL_STYLES.get(Level(level), "") if 0 <= level <= Level.FATAL else ""
    pos = 0
    for m in _CONTROL.finditer(message):
        if m.start() > pos:
            text.append(message[pos : m.start()], style)
        text.append(inert(m.group()), ESCAPE_STYLE)
        pos = m.end()
    if pos < len(message):
        text.append(message[pos:], style)
    return text


class LineOptions(TypedDict, total=False):
    """The keyword arguments of `format_parts`, which `format_line` passes on."""

    show_time: bool
    show_source: bool
    highlight: Sequence[str]
    now_ns: int | None
    source_width: int


def format_parts(
    line: LogLine,
    source: Source | None,
    *,
    show_time: bool = True,
    show_source: bool = True,
    highlight: Sequence[str] = (),
    now_ns: int | None = None,
    source_width: int = 0,
) -> tuple[Text, Text]:
    """The line's prefix (time and source columns) and its message, apart.

    Callers that wrap long lines indent the continuation rows by the prefix width.

    Args:
        line: the stored line.
        source: its source (None if unknown: the tag shows the source id).
        show_time: include the time column (UTC).
        show_source: include the `pod/container` tag, coloured per source.
        highlight: text terms to highlight in the message (a query's `highlight`).
        now_ns: "now" in UTC ns, which decides whether the date is shown (default:
            the clock; fixed in tests).
        source_width: pad or cut the tag to this many cells (0: as long as it is).

    Returns:
        The prefix and the message as Text; the message is data (no markup), control
        characters shown as escapes, warnings yellow and errors red.
    """
    prefix = Text(end="")
    if show_time:
        prefix.append(format_time(line.ts, now_ns), TIME_STYLE)
        prefix.append(" ")
    if show_source:
        tag = source_tag(source, line.source_id)
        if source_width > 0:
            tag = fit_tag(tag, source_width).ljust(source_width)
        prefix.append(inert(tag), source_style(line.source_id))
        prefix.append(" ")
    message = _message_text(line.message, line.level)
    if line.flags & Flag.GAP:
        # Not a line the container wrote: klogtui saying lines may be missing here.
        message = Text("⚠ ", _GAP_STYLE) + Text(inert(line.message), _GAP_STYLE)
    if line.flags & Flag.TRUNCATED:
        message.append(" ⟨truncated⟩", _MARK_STYLE)
    elif line.flags & Flag.UNTERMINATED:
        message.append(" ⟨unterminated⟩", _MARK_STYLE)
    pattern = highlight_pattern(tuple(highlight)) if highlight else None
    if pattern is not None:
        message.highlight_regex(pattern, HIGHLIGHT_STYLE)
    message.expand_tabs(8)
    return prefix, message


def format_line(line: LogLine, source: Source | None, **options: Unpack[LineOptions]) -> Text:
    """A stored line as Rich Text, for the log pane and the context screen.

    Arguments are those of `format_parts`; the line is its prefix and message joined.
    """
    prefix, message = format_parts(line, source, **options)
    prefix.append_text(message)
    return prefix
