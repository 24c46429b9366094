"""Container log file formats: CRI and Docker json-file lines, reassembled into messages.

One `LineDecoder` per file turns raw lines (without their trailing newline) into
`Parsed` messages: it takes the format from the first line that parses (kubelet
decides on the first line too), joins partial fragments per stream, caps a
message's size, keeps lines it cannot parse (raw, flagged), and can save and
restore its pending fragments so they survive a restart.

Choices a user can notice:
- A single trailing carriage return is removed from every reassembled message (CRI-O
  keeps the ``\\r`` of CRLF output; nobody wants to see it). Malformed lines are kept
  exactly as read.
- Invalid UTF-8 stays readable: ``\\xff`` becomes the four characters ``\\xff``.
- A message longer than ``max_line_bytes`` keeps its first ``max_line_bytes`` bytes
  (cut back to a character boundary) and ends with `` …[truncated N bytes]``.

Stream, level and flag values are plain ints equal to `klogtui.model.Stream`,
`Level` and `Flag` (this module imports nothing of ours; a test keeps them equal).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["LineDecoder", "Parsed", "detect_level", "parse_timestamp"]

# Equal to klogtui.model.Stream / Level / Flag.
_STDOUT = 1
_STDERR = 2
_TRACE, _DEBUG, _INFO, _WARN, _ERROR, _FATAL = 1, 2, 3, 4, 5, 6
_MALFORMED = 1
_TRUNCATED = 2
_UNTERMINATED = 4

_NS = 1_000_000_000

# --------------------------------------------------------------------------- timestamps

# UTC seconds by the timestamp's text up to its seconds: "YYYY-MM-DDTHH:MM:SS." for
# Z-zoned timestamps with a fraction (the common case), "YYYY-MM-DDTHH:MM:SS" + zone
# for the rest. Consecutive lines share their second, so nearly every call is one
# dict lookup; only a miss parses and validates the date and zone.
_SECONDS_CACHE: dict[bytes, int] = {}
_SECONDS_CACHE_MAX = 4096
_TIMESTAMP_RE = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))"
)
# Multiplier that turns n fraction digits into nanoseconds.
_FRACTION_SCALE = (0, 10**8, 10**7, 10**6, 10**5, 10**4, 10**3, 10**2, 10, 1)
_UNIX_EPOCH_ORDINAL = 719163  # datetime(1970, 1, 1).toordinal()


def _invalid(s: object) -> ValueError:
    return ValueError(f"not an RFC 3339 timestamp: {s!r}")


_MAX_SECONDS = (2**63 - 1) // 1_000_000_000 - 1


def _parse_timestamp_full(s: bytes | str) -> int:
    """parse_timestamp for every form; fills the cache the fast paths read."""
    if isinstance(s, bytes) and len(s) > 26 and s[19] == 0x2E:
        # Second fast path: "<cached seconds>.<1-9 digits>+hh:mm", what conmon writes.
        # A 25-byte key is only ever cached for a valid date-time and offset.
        secs = _SECONDS_CACHE.get(s[:19] + s[-6:])
        if secs is not None:
            digits = s[20:-6]
            count = len(digits)
            if count < 10 and digits.isdigit():
                return secs * _NS + int(digits) * _FRACTION_SCALE[count]
    if isinstance(s, str):
        try:
            b = s.encode("ascii")
        except UnicodeEncodeError:
            raise _invalid(s) from None
    elif isinstance(s, bytes):
        b = s
    else:
        raise _invalid(s)
    m = _TIMESTAMP_RE.fullmatch(b)
    if m is None:
        raise _invalid(s)
    fraction = m[7]
    if fraction is None:
        nanos = 0
    elif len(fraction) <= 9:
        nanos = int(fraction) * _FRACTION_SCALE[len(fraction)]
    else:
        nanos = int(fraction[:9])  # Go keeps nanoseconds and drops the rest too
    utc = m[8] is not None
    # The fast path looks up the first 20 bytes of any string ending in "Z"; keys of
    # the other forms are 25 bytes long so such a lookup can never find them.
    if utc:
        key = b[:20] if fraction is not None else b[:19] + b"+00:00"
    else:
        key = b[:19] + b[-6:]
    secs = _SECONDS_CACHE.get(key)
    if secs is None:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        # datetime rejects month 13, February 30, hour 24, second 60 and so on.
        date = datetime(year, month, day, hour, minute, second)
        secs = (date.toordinal() - _UNIX_EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60
        secs += second
        if not utc:
            zone_hours, zone_minutes = int(m[10]), int(m[11])
            if zone_hours > 23 or zone_minutes > 59:
                raise _invalid(s)
            offset = zone_hours * 3600 + zone_minutes * 60
            secs = secs - offset if m[9] == b"+" else secs + offset
        if not 0 <= secs < _MAX_SECONDS:
            # Before 1970 or after 2262 does not fit the store's 64-bit nanoseconds:
            # no real log says so, and the line is kept raw like any other bad stamp.
            raise _invalid(s)
        if len(_SECONDS_CACHE) >= _SECONDS_CACHE_MAX:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[key] = secs
    return secs * _NS + nanos


def parse_timestamp(s: bytes | str) -> int:
    """Parse an RFC 3339 timestamp to UTC nanoseconds since the epoch.

    Accepts ``Z`` (or ``z``) and numeric ``+hh:mm`` / ``-hh:mm`` zones, ``T`` or
    ``t`` between date and time, and no fraction or any number of fraction digits
    (digits past the ninth are dropped: Go's time.Parse keeps nanoseconds too).

    Args:
        s: the timestamp, e.g. ``b"2026-11-24T10:00:00.123456789Z"`` or
            ``"2026-11-24T11:00:00+01:00"``.

    Returns:
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises:
        ValueError: if `s` is not such a timestamp.
    """
    # Fast path: "<cached seconds>.<1-9 digits>Z", what containerd writes.
    if isinstance(s, bytes) and s[-1:] == b"Z":
        secs = _SECONDS_CACHE.get(s[:20])
        if secs is not None:
            digits = s[20:-1]
            count = len(digits)
            if count < 10 and digits.isdigit():  # bytes.isdigit: ASCII digits only
                return secs * _NS + int(digits) * _FRACTION_SCALE[count]
    return _parse_timestamp_full(s)


# --------------------------------------------------------------------------- levels

# Values of structured level fields (JSON, logfmt), lower-cased.
_FIELD_LEVELS: dict[str, int] = {
    "trace": _TRACE,
    "trce": _TRACE,
    "trc": _TRACE,
    "verbose": _TRACE,
    "debug": _DEBUG,
    "dbug": _DEBUG,
    "dbg": _DEBUG,
    "info": _INFO,
    "inf": _INFO,
    "information": _INFO,
    "notice": _INFO,
    "warn": _WARN,
    "warning": _WARN,
    "wrn": _WARN,
    "error": _ERROR,
    "err": _ERROR,
    "eror": _ERROR,
    "fail": _ERROR,
    "fatal": _FATAL,
    "ftl": _FATAL,
    "critical": _FATAL,
    "crit": _FATAL,
    "panic": _FATAL,
    "dpanic": _FATAL,
    "emerg": _FATAL,
    "emergency": _FATAL,
    "alert": _FATAL,
}
# pino / bunyan numeric levels, also accepted as strings ("30").
_NUMERIC_LEVELS = {10: _TRACE, 20: _DEBUG, 30: _INFO, 40: _WARN, 50: _ERROR, 60: _FATAL}
_FIELD_LEVELS.update({str(number): level for number, level in _NUMERIC_LEVELS.items()})
_FIELD_LEVELS_B = {name.encode(): level for name, level in _FIELD_LEVELS.items()}
_FIELD_KEYS = frozenset(("level", "severity", "lvl", "loglevel"))

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
_KLOG_LEVELS = {ord("I"): _INFO, ord("W"): _WARN, ord("E"): _ERROR, ord("F"): _FATAL}
_HEAD_BYTES = 64  # free-text levels are only looked for this far into a message

# A JSON level field and its value (a name, or a pino number). Literal key spellings
# rather than IGNORECASE: the case-insensitive regex is several times slower.
_JSON_FIELD_RE = re.compile(
    rb'"(?:[Ll]evel|LEVEL|[Ss]everity|SEVERITY|[Ll]vl|LVL|[Ll]og[Ll]evel|loglevel|LOGLEVEL)"'
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


def _field_level(value: object) -> int:
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
        return _field_level(value) if value else None
    if not isinstance(obj, dict):
        return None
    for key, v in obj.items():
        if key.lower() in _FIELD_KEYS:
            level = _field_level(v)
            if level:
                return level
    return 0


def _level_of(data: bytes, text: str) -> int:
    """detect_level, given the message both as UTF-8 bytes and as text.

    The decoder has both at hand. Substring tests are fast on str, translate and
    split on bytes; every step here was picked by measuring, since this runs for
    every line.
    """
    try:
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
    or one in square brackets in any case (``pid=1 [error] x``). Lower-case words
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
    return _level_of(data, message)


# --------------------------------------------------------------------------- decoder


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
    """

    ts: int
    stream: int
    message: str
    level: int
    flags: int


class _Pending:
    """Fragments of one stream's unfinished message."""

    __slots__ = ("dropped", "parts", "size", "ts")

    def __init__(self, ts: int) -> None:
        self.ts = ts
        self.parts: list[bytes] = []
        self.size = 0  # bytes held in parts
        self.dropped = 0  # bytes past the hold limit, counted but not kept


_UNKNOWN_FORMAT = 0
_CRI = 1
_DOCKER = 2
_FORMAT_NAMES = {_UNKNOWN_FORMAT: None, _CRI: "cri", _DOCKER: "docker"}
_FORMAT_CODES = {name: code for code, name in _FORMAT_NAMES.items()}
_STATE_VERSION = 1
_STREAM_CODES = {b"stdout": _STDOUT, b"stderr": _STDERR}


def _parse_cri(raw: bytes) -> tuple[int, int, bool, bytes] | None:
    """(ts, stream, partial, content) of a CRI line, or None if it is not one."""
    parts = raw.split(b" ", 3)
    if len(parts) != 4:
        return None
    ts_b, stream_b, tags, content = parts
    stream = _STREAM_CODES.get(stream_b, 0)
    if not stream:
        return None
    try:
        ts = parse_timestamp(ts_b)
    except ValueError:
        return None
    # Kubelet: partial iff the first ":"-separated tag is "P"; anything else is full.
    return ts, stream, tags.split(b":", 1)[0] == b"P", content


def _parse_docker(raw: bytes) -> tuple[int, int, bool, bytes] | None:
    """(ts, stream, partial, content) of a Docker json-file record, or None."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    log = obj.get("log")
    stream_s = obj.get("stream")
    time_s = obj.get("time")
    if not isinstance(log, str) or not isinstance(time_s, str):
        return None
    if stream_s == "stdout":
        stream = _STDOUT
    elif stream_s == "stderr":
        stream = _STDERR
    else:
        return None
    try:
        ts = parse_timestamp(time_s)
    except ValueError:
        return None
    # Docker splits long lines into records; all but the last lack the "\n".
    partial = not log.endswith("\n")
    if not partial:
        log = log[:-1]
    # surrogatepass: a lone "\ud800" escape in the JSON must not make us drop the line.
    return ts, stream, partial, log.encode("utf-8", "surrogatepass")


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

    __slots__ = ("_format", "_hold", "_max", "_pending", "malformed")

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

    @property
    def pending(self) -> bool:
        """True while partial fragments are held, waiting for their last fragment."""
        p = self._pending
        return p[1] is not None or p[2] is not None

    @property
    def format(self) -> str | None:
        """The detected format, "cri" or "docker"; None before the first valid line."""
        return _FORMAT_NAMES[self._format]

    def feed(self, raw: bytes, arrival_ns: int) -> list[Parsed]:
        """Decode one line.

        Args:
            raw: the line without its trailing ``b"\\n"``.
            arrival_ns: when it was read, UTC ns; the timestamp of a malformed line.

        Returns:
            The messages this line completes: none for a partial fragment, else one.
        """
        if self._format == _CRI:
            # The common case, inlined: a full CRI line with nothing pending.
            try:
                ts_b, stream_b, tags, content = raw.split(b" ", 3)
            except ValueError:
                return self._malformed_line(raw, arrival_ns)
            if stream_b == b"stdout":
                stream = _STDOUT
            elif stream_b == b"stderr":
                stream = _STDERR
            else:
                return self._malformed_line(raw, arrival_ns)
            # parse_timestamp's fast path, inlined: this runs for every line.
            secs = _SECONDS_CACHE.get(ts_b[:20])
            digits = ts_b[20:-1]
            count = len(digits)
            if secs is not None and ts_b[-1] == 90 and count < 10 and digits.isdigit():  # 90: "Z"
                ts = secs * _NS + int(digits) * _FRACTION_SCALE[count]
            else:
                try:
                    ts = _parse_timestamp_full(ts_b)
                except ValueError:
                    return self._malformed_line(raw, arrival_ns)
            if tags == b"F" and self._pending[stream] is None and len(content) <= self._max:
                if content[-1:] == b"\r":
                    content = content[:-1]
                message = content.decode("utf-8", "backslashreplace")
                return [Parsed(ts, stream, message, _level_of(content, message), 0)]
            return self._fragment(ts, stream, tags.split(b":", 1)[0] == b"P", content)
        if self._format == _DOCKER:
            parsed = _parse_docker(raw)
            if parsed is None:
                return self._malformed_line(raw, arrival_ns)
            return self._fragment(*parsed)
        # Format not known yet: the first line that parses decides, like kubelet.
        parsed = _parse_cri(raw)
        if parsed is not None:
            self._format = _CRI
            return self._fragment(*parsed)
        if raw[:1] == b"{":
            parsed = _parse_docker(raw)
            if parsed is not None:
                self._format = _DOCKER
                return self._fragment(*parsed)
        return self._malformed_line(raw, arrival_ns)

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
        for stream in (_STDOUT, _STDERR):
            p = self._pending[stream]
            if p is not None:
                self._pending[stream] = None
                out.append(self._finish(p.ts, stream, b"".join(p.parts), p.dropped, _UNTERMINATED))
        out.sort(key=lambda r: r.ts)
        return out

    def state(self) -> dict[str, Any]:
        """The decoder's resumable state as a JSON-able dict (for checkpoints).

        Holds the detected format and the pending fragments (base64). Restoring it
        into a fresh decoder and feeding the rest of the file gives exactly what this
        decoder would have produced.
        """
        pending: dict[str, dict[str, Any]] = {}
        for stream in (_STDOUT, _STDERR):
            p = self._pending[stream]
            if p is not None:
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
                if stream not in (_STDOUT, _STDERR):
                    raise ValueError(f"bad stream {key!r}")
                p = _Pending(int(saved["ts"]))
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

    def _fragment(self, ts: int, stream: int, partial: bool, content: bytes) -> list[Parsed]:
        """Add a parsed line to its stream's pending message; emit it when complete."""
        p = self._pending[stream]
        if p is None:
            if not partial:
                return [self._finish(ts, stream, content, 0, 0)]
            p = self._pending[stream] = _Pending(ts)
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
        return [self._finish(p.ts, stream, b"".join(p.parts), p.dropped, 0)]

    def _finish(self, ts: int, stream: int, data: bytes, dropped: int, flags: int) -> Parsed:
        """Build a message from its bytes: cap its size, strip one CR, decode once."""
        cap = self._max
        total = len(data) + dropped
        if total > cap:
            data, cut = _cut(data, cap)
            message = data.decode("utf-8", "backslashreplace")
            message += f" …[truncated {total - cut} bytes]"
            flags |= _TRUNCATED
        else:
            if data[-1:] == b"\r":
                data = data[:-1]
            message = data.decode("utf-8", "backslashreplace")
        return Parsed(ts, stream, message, _level_of(data, message), flags)

    def _malformed_line(self, raw: bytes, arrival_ns: int) -> list[Parsed]:
        self.malformed += 1
        flags = _MALFORMED
        kept = raw
        if len(raw) > self._max:
            kept, cut = _cut(raw, self._max)
            message = kept.decode("utf-8", "backslashreplace")
            message += f" …[truncated {len(raw) - cut} bytes]"
            flags |= _TRUNCATED
        else:
            message = raw.decode("utf-8", "backslashreplace")
        return [Parsed(arrival_ns, 0, message, _level_of(kept, message), flags)]


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
