"""A structured event's message field and other fields, as short `key=value` text.

Headless. The store keeps an event's text as written and whether it has fields
(klogtui.formats.fields); this reads its first line again for display: the message
field's text, then the other fields in the order written. Values print as logfmt
would: bare when they can be, double-quoted (JSON escapes) when they hold a blank, a
quote or an `=`, objects and lists as compact JSON, and long values cut with `…`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from klogtui.formats.fields import parse
from klogtui.model import LogLine

__all__ = ["Structured", "column_width", "field_names", "field_value", "structured", "value_text"]

VALUE_LIMIT = 40  # cells of a value shown in a row, past which it is cut
COLUMN_LIMIT = 24  # cells of a field column at most
_NEEDS_QUOTES = frozenset(' "=\t\\')


class Structured(NamedTuple):
    """What a structured event shows: its message field (None: it has none) and fields."""

    message: str | None
    fields: dict[str, object]


def structured(message: str, stored: str | None) -> Structured | None:
    """The message field and other fields of an event with fields; None for free text."""
    if stored is None:
        return None
    nl = message.find("\n")
    parsed = parse(message if nl < 0 else message[:nl])
    if parsed is None or (parsed.message is None and not parsed.fields):
        return None
    return Structured(parsed.message, parsed.fields)


def value_text(value: object, limit: int = VALUE_LIMIT) -> str:
    """A field's value as `key=value` shows it, at most `limit` characters."""
    if isinstance(value, str):
        text = value
        if not text or any(c in _NEEDS_QUOTES for c in text):
            text = json.dumps(text, ensure_ascii=False)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            text = str(value)
    if len(text) > limit:
        text = text[: max(1, limit - 1)] + "…"
    return text


def field_value(line: LogLine, name: str, limit: int = VALUE_LIMIT) -> str:
    """The value of field `name` of a line as text; "" when it has no such field."""
    shown = structured(line.message, line.fields)
    if shown is None or name not in shown.fields:
        return ""
    return value_text(shown.fields[name], limit)


def field_names(lines: Iterable[LogLine]) -> list[tuple[str, int]]:
    """The field names of the structured events among `lines`, with how many have each,
    most common first (ties by name)."""
    counts: Counter[str] = Counter()
    for line in lines:
        shown = structured(line.message, line.fields)
        if shown is not None:
            counts.update(shown.fields.keys())
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def column_width(name: str, lines: Iterable[LogLine]) -> int:
    """The width of field `name`'s column over `lines`: its widest value, at most
    COLUMN_LIMIT (at least 1, so an empty column still shows where it is)."""
    widest = 1
    for line in lines:
        if line.fields is not None:
            widest = max(widest, len(field_value(line, name, COLUMN_LIMIT)))
            if widest >= COLUMN_LIMIT:
                break
    return widest
