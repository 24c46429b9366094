"""Structured log lines read into fields: a JSON object, or logfmt (``key=value …``).

`parse` returns the message field's text (for display), the level its level field
states, and the other fields (kept per event as a JSON object). A line that is neither
(free text, invalid JSON, a JSON value that is not an object, text with a stray ``=``)
has no fields and is kept as written. Field names are kept as written (dots, unicode).
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from klogtui.formats.ansi import strip_ansi
from klogtui.formats.levels import field_level

__all__ = ["LEVEL_KEYS", "MESSAGE_KEYS", "Fields", "fields_json", "parse", "stored_fields"]

# The first of these present (with a text value) is the message shown; the others stay
# among the fields. zap's development encoder writes "M" and "L".
MESSAGE_KEYS = ("msg", "message", "log", "M", "@message", "event")
LEVEL_KEYS = ("level", "severity", "lvl", "L", "loglevel", "@level", "log.level")

# A logfmt line: pairs separated by spaces, values bare or double-quoted.
_LOGFMT_START = re.compile(r"[A-Za-z_@][\w.@/-]*=")
_LOGFMT_PAIR = re.compile(r'\s*([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))(?=\s|$)')
_MIN_LOGFMT_PAIRS = 2


class Fields(NamedTuple):
    """What a structured line says.

    Attributes:
        message: the message field's text; None when it has none.
        level: the level its level field states (0 when none or unknown).
        fields: the other fields, by name; empty when there are none.
    """

    message: str | None
    level: int
    fields: dict[str, object]


def parse(text: str) -> Fields | None:
    """The fields of a JSON object or logfmt line; None for anything else. Never raises."""
    if "\x1b" in text:
        text = strip_ansi(text)
    head = text[:1]
    if head == "{":
        return _json(text)
    if head.isalpha() or head in "_@":
        return _logfmt(text)
    return None


def stored_fields(message: str, level: int) -> tuple[int, str | None]:
    """An event's level and its fields as stored (JSON text, None when none).

    The fields come from its first line; the level is its level field's, if that names
    one, else `level` (what the line's text said).
    """
    nl = message.find("\n")
    parsed = parse(message if nl < 0 else message[:nl])
    if parsed is None:
        return level, None
    return parsed.level or level, fields_json(parsed.fields)


def fields_json(fields: dict[str, object]) -> str | None:
    """The fields as stored: compact JSON text; None when there are none."""
    if not fields:
        return None
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def _split(obj: dict[str, object]) -> Fields:
    message: str | None = None
    level = 0
    rest = dict(obj)
    for key in MESSAGE_KEYS:
        value = rest.get(key)
        if isinstance(value, str):
            message = value
            del rest[key]
            break
    for key in LEVEL_KEYS:
        if key in rest:
            found = field_level(rest[key])
            if found:
                level = found
                del rest[key]
                break
    return Fields(message, level, rest)


def _json(text: str) -> Fields | None:
    if not text.rstrip().endswith("}"):
        return None  # cut short (a size cap) or not JSON: kept as written
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    return _split(obj)


def _logfmt(text: str) -> Fields | None:
    if _LOGFMT_START.match(text) is None:
        return None
    pairs: dict[str, object] = {}
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        m = _LOGFMT_PAIR.match(text, pos)
        if m is None:
            return None  # free text with a "=" in it, not logfmt
        key, quoted, bare = m.groups()
        if quoted is not None:
            value: str = quoted.replace('\\"', '"').replace("\\\\", "\\")
        else:
            value = bare
        pairs.setdefault(key, value)
        pos = m.end()
    if len(pairs) < _MIN_LOGFMT_PAIRS:
        return None
    return _split(pairs)
