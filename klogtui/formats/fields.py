"""Structured log lines read into fields: a JSON object, or logfmt (``key=value …``).

`parse` returns the message field's text (for display), the level its level field
states, and the other fields (kept per event as a JSON object). An event that is one
line shaped as a JSON object (``{`` … ``}``) keeps them where they are: its stored fields
are `IN_MESSAGE` (""), its level is what `levels.level_of` read from its level field,
and a query reads them from the message (``json_valid`` then ``json_extract``; an
invalid object has none). Parsing and re-encoding every JSON line at ingest cost more
than the 15% of ingest time the grouping and fields may take, and the copy would
double the store for JSON logs. A line that is neither
(free text, invalid JSON, a JSON value that is not an object, text with a stray ``=``)
has no fields and is kept as written. Field names are kept as written (dots, unicode).
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from klogtui.formats.ansi import strip_ansi
from klogtui.formats.levels import field_level

__all__ = [
    "IN_MESSAGE",
    "LEVEL_KEYS",
    "STRUCTURED_FIRST",
    "MESSAGE_KEYS",
    "Fields",
    "fields_json",
    "fields_of",
    "parse",
    "stored_fields",
]

# The stored fields of an event that is a JSON object with fields besides its message and
# level: they are the message itself (valid JSON, checked at ingest).
IN_MESSAGE = ""

# The first of these present (with a text value) is the message shown; the others stay
# among the fields. zap's development encoder writes "M" and "L".
MESSAGE_KEYS = ("msg", "message", "log", "M", "@message", "event")
LEVEL_KEYS = ("level", "severity", "lvl", "L", "loglevel", "@level", "log.level")

# A logfmt line: pairs separated by spaces, values bare or double-quoted. One anchored
# match rules most free text out at its first word; then one split (in C) cuts the line
# into separators and pairs: it is logfmt when every separator is blank (free text with
# a "=" in it leaves a word there). A value is never re-split into pairs, so a line
# cuts the same way an anchored match of pair after pair would. A key starts no later
# than its word does (the look-behind): tried inside a long word, each position would
# scan to the word's end, quadratic in its length.
_LOGFMT_START = re.compile(r"[A-Za-z_@][\w.@/-]*=")
_LOGFMT_VALUE = r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]*'
_LOGFMT_PAIRS = re.compile(r"(?<![\w.@/-])([\w@][\w.@/-]*)=(" + _LOGFMT_VALUE + ")")
_MIN_LOGFMT_PAIRS = 2
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# `encode` builds its C encoder anew on every call, most of the cost for a few fields:
# the same encoder (json's own settings above, no circular check: parsed text cannot
# hold a cycle) is built once. Where json has no C encoder, `encode` it is.
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE_CHUNKS = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)
# What a structured line can open with: lines opening with anything else have no fields.
STRUCTURED_FIRST = frozenset("{_@abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\x1b")


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


# Fields(...) runs a generated __new__ in Python; tuple's own (in C) makes the same tuple
# faster, and one is made for every structured line.
_new_fields = tuple.__new__


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
    """An event's level and its fields as stored: None when it has none, `IN_MESSAGE`
    when the message is a JSON object holding them, else a JSON object's text.

    The fields come from its first line; the level is its level field's, if that names
    one, else `level` (what the line's text said).
    """
    first_char = message[:1]
    if first_char not in STRUCTURED_FIRST:
        return level, None  # most free text: opens with a digit or "["
    if first_char == "{" and "\n" not in message and "\x1b" not in message:
        # Read where it is, when asked (see the module docstring).
        # (endswith first: rstrip copies the line, and nearly every one ends with "}")
        whole = message.endswith("}") or message.rstrip().endswith("}")
        return (level, IN_MESSAGE) if whole else (level, None)
    nl = message.find("\n")
    first = message if nl < 0 else message[:nl]
    parsed = parse(first)
    if parsed is None:
        return level, None
    level = parsed.level or level
    if not parsed.fields:
        return level, None
    return level, fields_json(parsed.fields)


def fields_of(message: str, stored: str | None) -> dict[str, object] | None:
    """An event's fields from what `stored_fields` stored; None when it has none."""
    if stored is None:
        return None
    if stored == IN_MESSAGE:
        parsed = parse(message)
        return parsed.fields if parsed is not None and parsed.fields else None
    try:
        value = json.loads(stored)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def fields_json(fields: dict[str, object]) -> str | None:
    """The fields as stored: compact JSON text; None when there are none."""
    if not fields:
        return None
    if _ENCODE_CHUNKS is None:
        return _ENCODER.encode(fields)
    return "".join(_ENCODE_CHUNKS(fields, 0))


def _split(rest: dict[str, object]) -> Fields:
    """The message and level fields taken out of `rest` (changed in place)."""
    message: str | None = None
    level = 0
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
    return _new_fields(Fields, (message, level, rest))


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
        return None  # free text: not logfmt
    # [separator, key, value, separator, key, value, …, separator]
    parts = _LOGFMT_PAIRS.split(text)
    separators = "".join(parts[::3])
    if separators and not separators.isspace():
        return None  # free text with a "=" in it: not logfmt
    keys, values = parts[1::3], parts[2::3]
    if '"' in text:
        values = [_unquoted(v) if v[:1] == '"' else v for v in values]
    pairs: dict[str, object] = dict(zip(keys, values, strict=True))
    if len(pairs) < len(keys):  # a key written twice: its first value counts
        pairs = {}
        for key, value in zip(keys, values, strict=True):
            pairs.setdefault(key, value)
    if len(pairs) < _MIN_LOGFMT_PAIRS:
        return None
    return _split(pairs)


def _unquoted(value: str) -> str:
    """A double-quoted logfmt value's text."""
    value = value[1:-1]
    if "\\" in value:
        value = value.replace('\\"', '"').replace("\\\\", "\\")
    return value
