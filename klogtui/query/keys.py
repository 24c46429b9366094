"""The names the query language knows: field keys, their aliases, operators, time keys
and the values of stream and level. The lexer checks queries against them and the
query bar completes them, so both read them from here."""

from __future__ import annotations

import re
from typing import Literal

from klogtui.model import Level, Stream

__all__ = [
    "CANONICAL",
    "COMPARING_OPS",
    "COMPLETIONS",
    "DOMAINS",
    "FIELD_NAME",
    "KEY_ALIASES",
    "LEVEL_NAMES",
    "LINE_KEYS",
    "NUMERIC_KEYS",
    "OPS",
    "RESERVED",
    "SOURCE_KEYS",
    "STREAM_NAMES",
    "SUGGESTED_VALUES",
    "TIME_KEYS",
    "NEGATING_OPS",
    "Op",
    "TimeKind",
    "label_name",
]

Op = Literal["=", "!=", "=~", "!~", ">", ">=", "<", "<="]
TimeKind = Literal["since", "until"]

OPS: tuple[Op, ...] = ("=", "!=", "=~", "!~", ">", ">=", "<", "<=")
NEGATING_OPS: tuple[Op, ...] = ("!=", "!~")
# workload: the owning workload's name (a Deployment, StatefulSet, ... or the bare pod);
# kind: its kind (Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, Pod).
# Order comparisons: for numbers (restart, a field holding a number) and field text.
COMPARING_OPS: tuple[Op, ...] = (">", ">=", "<", "<=")
SOURCE_KEYS = ("namespace", "pod", "container", "node", "workload", "kind", "restart")
# Metadata keys whose values are numbers: `=` and the comparisons, no globs or regexes.
NUMERIC_KEYS = frozenset({"restart"})
# A field name that may follow its "." bare (`.status`, `.user.id`, `.@timestamp`,
# `.x-request-id`); any other name is quoted (`."http.route"`, `."0"`).
FIELD_NAME = re.compile(r"(?:[^\W\d]|@)[\w@-]*")
LINE_KEYS = ("stream", "level")
TIME_KEYS: tuple[TimeKind, ...] = ("since", "until")
KEY_ALIASES = {k: k for k in SOURCE_KEYS + LINE_KEYS} | {"ns": "namespace", "c": "container"}
RESERVED = frozenset(KEY_ALIASES) | frozenset(TIME_KEYS)

STREAM_NAMES: dict[str, int] = {s.label: int(s) for s in Stream}
LEVEL_NAMES: dict[str, int] = {(lv.label or "none"): int(lv) for lv in Level}
_LEVEL_ALIASES = {
    "warning": Level.WARN,
    "err": Level.ERROR,
    "critical": Level.FATAL,
    "unknown": Level.UNKNOWN,
}
# Every name a stream/level value can be matched against, with the value it stands for.
DOMAINS: dict[str, dict[str, int]] = {
    "stream": STREAM_NAMES,
    "level": LEVEL_NAMES | {k: int(v) for k, v in _LEVEL_ALIASES.items()},
}
CANONICAL = {"stream": tuple(STREAM_NAMES), "level": tuple(LEVEL_NAMES)}

# What the query bar completes a word to: the keys (the first that fits wins, so
# `n` gives namespace= and `s` stream=), then, after `stream=`/`level=`, their
# values, the named ones first and the catch-all (raw, none) last.
COMPLETIONS = tuple(f"{k}=" for k in (*SOURCE_KEYS, *LINE_KEYS)) + tuple(f"{k}:" for k in TIME_KEYS)
SUGGESTED_VALUES = {
    key: tuple(n for n in names if n not in ("raw", "none"))
    + tuple(n for n in names if n in ("raw", "none"))
    for key, names in CANONICAL.items()
}


def label_name(key: str) -> str | None:
    """The pod label a normalized Field key stands for, or None for a built-in key."""
    if key in KEY_ALIASES:
        return None
    return key[6:] if key.startswith("label.") else key
