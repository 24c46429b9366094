"""The severity a log message states, if any: JSON and logfmt level fields, klog headers,
and level words in free text (measured on every line: each step is picked for speed).
"""

from __future__ import annotations

import json
import re

from klogtui.formats.ansi import strip_ansi
from klogtui.formats.codes import DEBUG, ERROR, FATAL, INFO, TRACE, WARN

__all__ = ["detect_level", "field_level", "level_of"]


# Values of structured level fields (JSON, logfmt), lower-cased.
_FIELD_LEVELS: dict[str, int] = {
    "trace": TRACE,
    "trce": TRACE,
    "trc": TRACE,
    "verbose": TRACE,
    "debug": DEBUG,
    "dbug": DEBUG,
    "dbg": DEBUG,
    "info": INFO,
    "inf": INFO,
    "information": INFO,
    "notice": INFO,
    "warn": WARN,
    "warning": WARN,
    "wrn": WARN,
    "error": ERROR,
    "err": ERROR,
    "eror": ERROR,
    "fail": ERROR,
    "fatal": FATAL,
    "ftl": FATAL,
    "critical": FATAL,
    "crit": FATAL,
    "panic": FATAL,
    "dpanic": FATAL,
    "emerg": FATAL,
    "emergency": FATAL,
    "alert": FATAL,
}
# pino / bunyan numeric levels, also accepted as strings ("30").
_NUMERIC_LEVELS = {10: TRACE, 20: DEBUG, 30: INFO, 40: WARN, 50: ERROR, 60: FATAL}
_FIELD_LEVELS.update({str(number): level for number, level in _NUMERIC_LEVELS.items()})
_FIELD_LEVELS_B = {name.encode(): level for name, level in _FIELD_LEVELS.items()}
# zap's development encoder writes "L"; ECS writes "log.level".
_FIELD_KEYS = frozenset(("level", "severity", "lvl", "loglevel", "l", "log.level", "@level"))

# Words that state a level in free text. Narrower than _FIELD_LEVELS: a message that
# starts with "Information about…" or "Alert rules loaded" says nothing about severity.
_WORD_LEVELS: dict[str, int] = {
    w: _FIELD_LEVELS[w]
    for w in (
        "trace",
        "trce",
        "trc",
        "debug",
        "dbug",
        "dbg",
        "info",
        "inf",
        "warn",
        "warning",
        "wrn",
        "error",
        "err",
        "fail",
        "fatal",
        "ftl",
        "critical",
        "crit",
        "panic",
    )
}
_WORD_LEVELS_B = {w.encode(): level for w, level in _WORD_LEVELS.items()}
# Upper-case level words count anywhere near the start ("[main] ERROR x").
_UPPER_LEVELS: dict[bytes, int] = {
    w.upper(): level for w, level in _WORD_LEVELS_B.items() if w not in (b"fail", b"trce", b"dbug")
}
_UPPER_WORDS = frozenset(_UPPER_LEVELS)
# Splitting the head into words at punctuation (translate + split, both in C) is much
# cheaper than regex searches, and every free-text rule below works on those words.
_PUNCTUATION_TO_SPACE = bytes(
    c if c >= 0x80 or c == 0x5F or chr(c).isalnum() else 0x20 for c in range(256)
)
_CAPITALS_TO_A = bytes(0x41 if 0x41 <= c <= 0x5A else 0x61 for c in range(256))
_KLOG_LEVELS = {ord("I"): INFO, ord("W"): WARN, ord("E"): ERROR, ord("F"): FATAL}
_HEAD_BYTES = 64  # free-text levels are only looked for this far into a message

# A JSON level field and its value (a name, or a pino number). Literal key spellings
# rather than IGNORECASE: the case-insensitive regex is several times slower.
_JSON_FIELD_RE = re.compile(
    rb'"(?:[Ll]evel|LEVEL|[Ss]everity|SEVERITY|[Ll]vl|LVL|[Ll]og[Ll]evel|loglevel|LOGLEVEL'
    rb'|L|log\.level|@level)"'
    rb'\s*:\s*(?:"\s*([A-Za-z]+)\s*"|"?(\d+)\b)?'
)
# logfmt fields, one pattern per key: a pattern that starts with a literal is found
# by a fast substring search, one that starts with an alternation or a look-behind
# is tried at every position (several times slower). The caller checks what
# precedes the key.
_LOGFMT_FIELDS = tuple(
    (key + "=", re.compile(key.encode() + rb'=(?:"\s*)?([A-Za-z]+|\d+)(?![\w])'))
    for key in ("level", "lvl", "severity")
)
_FIELD_SEPARATORS = frozenset(b" \t,;{(")
# klog / glog header: "E1124 10:00:00.123456    1 file.go:12] msg".
_KLOG_RE = re.compile(rb"[IWEF]\d{4} \d\d:\d\d:\d\d")
# The word in brackets, matched right after a "[": "[error]", "[ Warn ]".
_BRACKETED_RE = re.compile(rb"\s*([A-Za-z]+)\s*\]")
_DIGITS_AND_SPACE = b"0123456789 "


def field_level(value: object) -> int:
    """Level of a structured field's value: a name, or a pino number."""
    if isinstance(value, bytes):
        return _FIELD_LEVELS_B.get(value.strip().lower(), 0)
    if isinstance(value, str):
        return _FIELD_LEVELS.get(value.strip().lower(), 0)
    if isinstance(value, int) and not isinstance(value, bool):
        return _NUMERIC_LEVELS.get(value, 0)
    return 0


def _logfmt_level(data: bytes, text: str) -> int:
    """Level of the first logfmt level field ("level=error", "loglevel=warn")."""
    for key, pattern in _LOGFMT_FIELDS:
        if key not in text:
            continue
        m = pattern.search(data)
        while m is not None:
            # The key must start a field: "level=" and "loglevel=" do, "x_level=" not.
            at = m.start()
            start = at - 3 if data[at - 3 : at] == b"log" else at
            if start == 0 or data[start - 1] in _FIELD_SEPARATORS:
                level = _FIELD_LEVELS_B.get(m[1].lower(), 0)
                if level:
                    return level
            m = pattern.search(data, m.end())
    return 0


def _json_level(data: bytes, field: re.Match[bytes]) -> int | None:
    """Level of a message starting with "{" that has a level field; None if not JSON."""
    value = field[1] or field[2]
    at = field.start()
    # In valid JSON a '"level":' match is a real key (quotes inside strings are
    # escaped); with no "{" or "[" before it, it is a top-level key. Then the regex
    # already has the answer and parsing the whole object is not needed.
    if value and (at == 1 or (data.find(b"{", 1, at) < 0 and data.find(b"[", 1, at) < 0)):
        level = _FIELD_LEVELS_B.get(value.lower(), 0)
        if level:
            return level
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        # Not JSON (cut by the size cap, say): the first level field will do.
        return field_level(value) if value else None
    if not isinstance(obj, dict):
        return None
    for key, v in obj.items():
        if key.lower() in _FIELD_KEYS:
            level = field_level(v)
            if level:
                return level
    return 0


def level_of(data: bytes, text: str) -> int:
    """detect_level, given the message both as UTF-8 bytes and as text.

    The decoder has both at hand. Substring tests are fast on str, translate and
    split on bytes; every step here was picked by measuring, since this runs for
    every line. Terminal escapes (colours) are looked through.
    """
    try:
        if "\x1b" in text:
            text = strip_ansi(text)
            data = text.encode("utf-8", "surrogatepass")
        first = data[0]  # an empty message raises IndexError: level 0, as it should
        if first == 0x7B:  # "{"
            field = _JSON_FIELD_RE.search(data)
            if field is not None:
                # The usual shape, {"level":"info",…}, answered inline: a field that
                # opens the object is a top-level one (see _json_level).
                if field.start() == 1 and (value := field[1] or field[2]):
                    level = _FIELD_LEVELS_B.get(value.lower(), 0)
                    if level:
                        return level
                json_level = _json_level(data, field)
                if json_level is not None:
                    return json_level
        elif first in _KLOG_LEVELS and _KLOG_RE.match(data) is not None:
            return _KLOG_LEVELS[first]
        if "=" in text and ("level=" in text or "lvl=" in text or "severity=" in text):
            level = _logfmt_level(data, text)
            if level:
                return level
        head = data[:_HEAD_BYTES]
        spaced = head.translate(_PUNCTUATION_TO_SPACE)
        # The opening word, in any case, after a timestamp-ish prefix: words that
        # start with a digit ("2026", "24T10", "123Z"). lstrip skips digits; a word
        # it entered in the middle ("T10" of "24T10") is skipped whole.
        if first > 0x39 and spaced[0] != 0x20:
            rest = spaced  # opens with a word: no prefix (the usual case, made cheap)
        else:
            rest = spaced.lstrip(_DIGITS_AND_SPACE)
            while rest and len(rest) < len(spaced) and spaced[-len(rest) - 1] != 0x20:
                tail = rest.split(None, 1)
                rest = tail[1].lstrip(_DIGITS_AND_SPACE) if len(tail) == 2 else b""
        if rest:
            # Level words are at most 8 letters: 9 bytes hold the word and its end.
            level = _WORD_LEVELS_B.get(rest[:9].split(None, 1)[0].lower(), 0)
            if level:
                return level
        # Upper-case level words have at least three capitals in a row; most heads have
        # none (bytes.islower) or only capitalised words ("Started", "Nov"). Both tests
        # are far cheaper than splitting. The skipped prefix holds no such word.
        if (
            not head.islower()
            and head.translate(_CAPITALS_TO_A).find(b"AAA") >= 0
            and not _UPPER_WORDS.isdisjoint(words := rest.split())
        ):
            for word in words:
                level = _UPPER_LEVELS.get(word, 0)
                if level:
                    return level
        # A bracketed level word in any case ("pid=3 [error] x"): find() each "[" and
        # match right after it; a regex search over the head is much slower.
        at = head.find(b"[") if "[" in text else -1
        while at >= 0:
            m = _BRACKETED_RE.match(head, at + 1)
            if m is not None:
                level = _WORD_LEVELS_B.get(m[1].lower(), 0)
                if level:
                    return level
            at = head.find(b"[", at + 1)
        return 0
    except Exception:  # noqa: BLE001 - a level is a hint; a bad guess must never cost a line
        return 0


def detect_level(message: str) -> int:
    """Find the severity a log message states, if any.

    Looks, in order, at: a JSON object's top-level ``level`` / ``severity`` /
    ``lvl`` / ``loglevel`` field (names or pino numbers); a klog header
    (``E1124 10:00:00.123456 …``); a logfmt field (``level=error``); a level word
    opening the message, in any case, after an optional timestamp or punctuation
    (``ERROR x``, ``[warn] x``, ``Error: x``, ``2026-11-24 10:00:00,123 INFO x``);
    and, within the first 64 bytes, an upper-case level word (``[main] ERROR x``)
    or one in square brackets in any case (``pid=1 [error] x``), all with terminal
    escapes (colours) taken out first. Lower-case words
    further in ("failed with error", "no errors") do not count. Never raises.

    Args:
        message: one log message.

    Returns:
        A `klogtui.model.Level` value; 0 (UNKNOWN) when the message does not say.
    """
    try:
        data = message.encode("utf-8", "surrogatepass")
    except Exception:  # noqa: BLE001 - not a str: says nothing about severity
        return 0
    return level_of(data, message)
