"""A query's `.field` conditions as SQL over an event's stored fields.

An event's fields are a JSON object: in `l.fields` (logfmt, multi-line or coloured
JSON), or, when `l.fields` is IN_MESSAGE (""), the message itself (a one-line JSON
object, not validated at ingest: `json_valid` guards it); rows stored before schema
v4 have NULL. SQLite's JSON functions read them where they are: no index, so a
field condition filters the rows the rest of the query (or the newest-first scan)
brings, the way a text query without tokens does.

Values: a literal that is a number compares as a number with a field holding a
number, or text that reads as one (logfmt values are text: `status=500`); any other
literal compares as text. `true`, `false` and `null` also match JSON's own. `=` with
a `*` is a glob; `=~` searches a Python regex in the value's text (numbers too).
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from typing import TYPE_CHECKING

from klogtui.query.ast import EventField
from klogtui.query.keys import NEGATING_OPS
from klogtui.regex_budget import compile_pattern
from klogtui.store.text_codec import FIELDS, MESSAGE

if TYPE_CHECKING:
    import regex

__all__ = [
    "FIELDS_SOURCE",
    "REGEXP_FUNCTION",
    "REGEX_VALUE_S",
    "RegexTooSlow",
    "event_field_sql",
    "field_sql",
    "json_path",
    "reads_fields",
    "register",
]

# An event's fields as one JSON text, or NULL when it has none (or an invalid object).
FIELDS_SOURCE = (
    f"CASE WHEN l.fields = '' THEN CASE WHEN json_valid({MESSAGE}) THEN {MESSAGE} END "
    f"ELSE {FIELDS} END"
)
REGEXP_FUNCTION = "klogtui_regexp"
# The longest one field value may take to match: a real pattern takes microseconds on
# any value, so only a backtracking one (`(a|a)+$`) gets near it, and the read stops
# (RegexTooSlow) instead of spending it again on every event.
REGEX_VALUE_S = 0.1
# JSON's number grammar: what SQLite's json_valid takes as a number, so text and
# literal agree on what a number is.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SCALAR_TYPES = "('text', 'integer', 'real')"
_COMPARE = {">": ">", ">=": ">=", "<": "<", "<=": "<="}


def json_path(path: tuple[str, ...]) -> str:
    """An SQLite JSON path for the field names, each quoted (dots and unicode kept)."""
    return "$" + "".join(f'."{name}"' for name in path)


def reads_fields(where: str) -> bool:
    """Whether a compiled query's WHERE reads event fields (no index: every line it
    looks at is parsed)."""
    return FIELDS_SOURCE in where


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _number(value: str) -> str | None:
    """value as an SQL number literal when it is a (finite) number, else None."""
    if _NUMBER.fullmatch(value) is None:
        return None
    if re.fullmatch(r"-?\d+", value) and abs(int(value)) < 2**63:
        return str(int(value))
    number = float(value)
    return repr(number) if math.isfinite(number) else None


def _glob(value: str) -> str:
    """A query glob (only `*` special) as an SQLite GLOB pattern."""
    return "".join("[" + ch + "]" if ch in "?[" else ch for ch in value)


def field_sql(path: tuple[str, ...]) -> tuple[str, str]:
    """SQL for a field's JSON type (NULL: the event has no such field) and its value
    (JSON's numbers and text as SQL's), over alias `l`.

    `.a.b` is the nested field, or, when there is none, a field named "a.b" (logfmt
    and many JSON loggers write dotted names flat: `http.route=/api`).
    """
    src = FIELDS_SOURCE
    nested = _sql_string(json_path(path))
    if len(path) == 1:
        return f"json_type({src}, {nested})", f"json_extract({src}, {nested})"
    flat = _sql_string(json_path((".".join(path),)))
    kind = f"coalesce(json_type({src}, {nested}), json_type({src}, {flat}))"
    value = (
        f"CASE WHEN json_type({src}, {nested}) IS NOT NULL THEN json_extract({src}, {nested}) "
        f"ELSE json_extract({src}, {flat}) END"
    )
    return kind, value


def event_field_sql(f: EventField, params: list[str]) -> str:
    """f as an SQL boolean (never NULL) over alias `l`; its values go into params."""
    kind, value = field_sql(f.path)
    if f.op is None:
        return f"({kind} IS NOT NULL)"
    number = _number(f.value)
    # A field's value as a number: JSON's, or text that reads as one.
    # Nested CASEs: SQLite promises their order (json_type raises on invalid JSON),
    # not that of AND's operands.
    as_number = (
        f"(CASE WHEN {kind} IN ('integer', 'real') THEN {value} "
        f"WHEN {kind} = 'text' THEN CASE WHEN json_valid({value}) THEN "
        f"CASE WHEN json_type({value}) IN ('integer', 'real') THEN json_extract({value}, '$') "
        "END END END)"
    )
    positive_op = {"!=": "=", "!~": "=~"}.get(f.op, f.op)
    if positive_op in _COMPARE:
        sql_op = _COMPARE[positive_op]
        if number is not None:
            test = f"{as_number} {sql_op} {number}"
        else:
            params.append(f.value)
            test = f"{kind} = 'text' AND {value} {sql_op} ?"
    elif positive_op == "=~":
        params.append(f.value)
        test = f"{kind} IN {_SCALAR_TYPES} AND {REGEXP_FUNCTION}(?, {value})"
    elif "*" in f.value:
        params.append(_glob(f.value))
        test = f"{kind} IN {_SCALAR_TYPES} AND {value} GLOB ?"
    else:
        params.append(f.value)
        test = f"{kind} IN ('text', 'object', 'array') AND {value} = ?"
        if number is not None:
            test = f"({test}) OR {as_number} = {number}"
        elif f.value in ("true", "false", "null"):
            test = f"({test}) OR {kind} = '{f.value}'"
    test = f"coalesce(({test}), 0)"
    return f"NOT {test}" if f.op in NEGATING_OPS else test


@functools.lru_cache(maxsize=64)
def _pattern(pattern: str) -> regex.Pattern[str] | None:
    import regex  # imported by the first regex (see klogtui.regex_budget)

    try:
        return compile_pattern(pattern, False)
    except (regex.error, OverflowError, RecursionError, ValueError):
        return None  # the lexer checked it: only a pattern that never came from a query


class RegexTooSlow(Exception):
    """A field regex ran past REGEX_VALUE_S on one value (SQLite reports it as an
    OperationalError naming the function: see RegexTooSlow.raised_in)."""

    @staticmethod
    def raised_in(error: Exception) -> bool:
        """Whether an SQLite error is this function's RegexTooSlow."""
        return "user-defined function raised exception" in str(error)


def _regexp(pattern: str, value: object) -> bool:
    """SQL `klogtui_regexp(pattern, value)`: pattern found in value's text.

    Raises:
        RegexTooSlow: one value took longer than REGEX_VALUE_S.
    """
    compiled = _pattern(pattern)
    if compiled is None or value is None:
        return False
    try:
        return compiled.search(str(value), timeout=REGEX_VALUE_S, concurrent=True) is not None
    except TimeoutError:
        raise RegexTooSlow(pattern) from None


def register(conn: sqlite3.Connection) -> None:
    """Give a connection the SQL function field regexes run on."""
    conn.create_function(REGEXP_FUNCTION, 2, _regexp, deterministic=True)
