"""One stored event as Rich Text: time, source tag, level badge, field columns, message.

The message is never parsed as markup (it goes in through `Text(str)` / `append`).
The SGR colours the program wrote are shown as styles (klogtui.ui.sgr), or left out
when plain text is asked for; every other terminal control character is shown as a
visible escape (`\\x1b`), styled so it stands apart from a literal backslash typed by
the program. A structured event (JSON, logfmt) shows its message field, then its other
fields as dim `key=value` (klogtui.ui.field_text), unless the raw line is asked for.
An event of several lines shows `+N` (its other lines) and its first line, or all its
lines. Times are
shown in UTC, like `klogtui query` and like the query language reads times without an
offset, or in the local time zone when asked.
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
from klogtui.ui.field_text import field_value, structured, value_text
from klogtui.ui.sgr import SgrState, has_sgr, spans

__all__ = [
    "BADGE_WIDTH",
    "ESCAPE_STYLE",
    "HIGHLIGHT_STYLE",
    "LineOptions",
    "TIME_STYLE",
    "fit_tag",
    "format_line",
    "format_parts",
    "format_time",
    "highlight_pattern",
    "level_badge",
    "source_style",
    "source_tag",
]

TIME_STYLE = "dim"
ESCAPE_STYLE = "reverse dim"
HIGHLIGHT_STYLE = "bold #000000 on #e5c07b"
_MARK_STYLE = "dim italic"
FIELD_STYLE = "dim"
COLUMN_STYLE = "italic"
MORE_STYLE = "bold reverse"  # the `+N` lines badge
BADGE_WIDTH = 3
_LEVEL_BADGES: dict[int, tuple[str, str]] = {
    Level.TRACE: ("TRC", "dim"),
    Level.DEBUG: ("DBG", "color(4)"),
    Level.INFO: ("INF", "color(2)"),
    Level.WARN: ("WRN", "bold color(3)"),
    Level.ERROR: ("ERR", "bold color(1)"),
    Level.FATAL: ("FTL", "bold color(15) on color(1)"),
}
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


def format_time(ts_ns: int, now_ns: int | None = None, *, local: bool = False) -> str:
    """`HH:MM:SS.mmmZ` (UTC) for a line of now's day, `MM-DD HH:MM:SS.mmmZ` otherwise;
    local time (`local`) has no `Z` and its day is the local day."""
    now = time.time_ns() if now_ns is None else now_ns
    seconds, nanos = divmod(ts_ns, 10**9)
    if local:
        tm = time.localtime(seconds)
        same_day = tm[:3] == time.localtime(now // 10**9)[:3]
        zone = ""
    else:
        tm = time.gmtime(seconds)
        same_day = ts_ns // _NS_PER_DAY == now // _NS_PER_DAY
        zone = "Z"
    clock = f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}.{nanos // 1_000_000:03d}{zone}"
    if same_day:
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


def _append_inert(text: Text, chunk: str, style: str) -> None:
    """Append log text: control characters (and escapes that are not SGR) shown inert."""
    pos = 0
    for m in _CONTROL.finditer(chunk):
        if m.start() > pos:
            text.append(chunk[pos : m.start()], style)
        text.append(inert(m.group()), ESCAPE_STYLE)
        pos = m.end()
    if pos < len(chunk):
        text.append(chunk[pos:], style)


def _append_log(text: Text, chunk: str, base: str, colours: bool, state: SgrState) -> SgrState:
    """Append one line of log text in its SGR colours (`colours`) or plain, on `base`."""
    if not has_sgr(chunk):
        _append_inert(text, chunk, base)
        return state
    runs, state = spans(chunk, state)
    for run, style in runs:
        _append_inert(text, run, f"{base} {style}".strip() if colours and style else base)
    return state


# The time fields loggers write (zap's ts, logrus' and pino's time, ECS's @timestamp):
# the row's time column already says when, so a row leaves them out (as hl does); the
# detail view and the raw line (`r`) still show them.
_TIME_FIELDS = frozenset({"ts", "time", "timestamp", "@timestamp"})


def _append_fields(text: Text, fields: dict[str, object], style: str, skip: set[str]) -> None:
    for key, value in fields.items():
        if key in skip or key in _TIME_FIELDS:
            continue  # shown in its own column, or the time column says it
        if text.cell_len:
            text.append(" ")
        text.append(inert(key), f"{style} bold")
        text.append("=", style)
        text.append(inert(value_text(value)), style)


def _message_text(
    line: LogLine, *, raw: bool, colours: bool, expand: bool, columns: set[str]
) -> Text:
    """The message column: `+N` and the event's first line (all its lines when `expand`),
    a structured event's message field and dim fields (but those in `columns`) unless
    `raw`, and SGR colours."""
    text = Text(no_wrap=False, end="")
    level = line.level
    base = LEVEL_STYLES.get(Level(level), "") if 0 <= level <= Level.FATAL else ""
    message = line.message
    first, nl, rest = message.partition("\n")
    if nl and not expand:
        # First, where a long first line cannot push it out of sight.
        text.append(f"+{rest.count(chr(10)) + 1}", MORE_STYLE)
        text.append(" ")
    if line.flags & Flag.CONTINUED:
        text.append("…cont. ", _MARK_STYLE)
    shown = None if raw else structured(message, line.fields)
    state = SgrState()
    if shown is None:
        state = _append_log(text, first, base, colours, state)
    else:
        if shown.message is not None:
            _append_log(text, shown.message, base, colours, state)
        style = FIELD_STYLE if shown.message is not None else ""
        _append_fields(text, shown.fields, style, columns)
    if nl and expand:
        for part in rest.split("\n"):
            text.append("\n")
            state = _append_log(text, part, base, colours, state)
    return text


def level_badge(level: int) -> Text:
    """The level column: a three-letter badge in the level's colour, blank for none."""
    badge = _LEVEL_BADGES.get(level)
    if badge is None:
        return Text(" " * BADGE_WIDTH, end="")
    return Text(badge[0], badge[1], end="")


class LineOptions(TypedDict, total=False):
    """The keyword arguments of `format_parts`, which `format_line` passes on."""

    show_time: bool
    show_source: bool
    show_level: bool
    highlight: Sequence[str]
    now_ns: int | None
    source_width: int
    local_time: bool
    raw: bool
    colours: bool
    expand: bool
    columns: Sequence[tuple[str, int]]


def format_parts(
    line: LogLine,
    source: Source | None,
    *,
    show_time: bool = True,
    show_source: bool = True,
    show_level: bool = True,
    highlight: Sequence[str] = (),
    now_ns: int | None = None,
    source_width: int = 0,
    local_time: bool = False,
    raw: bool = False,
    colours: bool = True,
    expand: bool = False,
    columns: Sequence[tuple[str, int]] = (),
) -> tuple[Text, Text]:
    """The line's prefix (time, source, level and field columns) and its message, apart.

    Callers that wrap long lines indent the continuation rows by the prefix width.

    Args:
        line: the stored line (an event: one or more physical lines).
        source: its source (None if unknown: the tag shows the source id).
        show_time: include the time column.
        show_source: include the `pod/container` tag, coloured per source.
        show_level: include the level badge column.
        highlight: text terms to highlight in the message (a query's `highlight`).
        now_ns: "now" in UTC ns, which decides whether the date is shown (default:
            the clock; fixed in tests).
        source_width: pad or cut the tag to this many cells (0: as long as it is).
        local_time: times in the local time zone instead of UTC.
        raw: a structured event as written, not its message field and fields.
        colours: the SGR colours written in the log (else plain text).
        expand: all the lines of a multi-line event (else its first and `+N`).
        columns: (field name, width) of field columns to show, in order.

    Returns:
        The prefix and the message as Text; the message is data (no markup), control
        characters other than SGR colours shown as escapes, warnings yellow and errors red.
    """
    prefix = Text(end="")
    if show_time:
        prefix.append(format_time(line.ts, now_ns, local=local_time), TIME_STYLE)
        prefix.append(" ")
    if show_source:
        tag = source_tag(source, line.source_id)
        if source_width > 0:
            tag = fit_tag(tag, source_width).ljust(source_width)
        prefix.append(inert(tag), source_style(line.source_id))
        prefix.append(" ")
    if show_level:
        prefix.append_text(level_badge(line.level))
        prefix.append(" ")
    for name, width in columns:
        value = inert(field_value(line, name, width))
        prefix.append(value.ljust(width), COLUMN_STYLE)
        prefix.append(" ")
    if line.flags & Flag.GAP:
        # Not a line the container wrote: klogtui saying lines may be missing here.
        message = Text("⚠ ", _GAP_STYLE) + Text(inert(line.message), _GAP_STYLE)
    else:
        shown_apart = {name for name, _ in columns}
        message = _message_text(line, raw=raw, colours=colours, expand=expand, columns=shown_apart)
    if line.flags & Flag.TRUNCATED:
        message.append(" ⟨truncated⟩", _MARK_STYLE)
    elif line.flags & Flag.UNTERMINATED:
        message.append(" ⟨unterminated⟩", _MARK_STYLE)
    if line.flags & Flag.CUT:
        message.append(" …cut", _MARK_STYLE)
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
