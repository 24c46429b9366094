"""Alert rules: the `[[alert]]` tables of the config file, checked one by one.

A rule that is wrong (a query that does not parse, a missing condition) becomes a
`RuleProblem` that names the rule and, for a query, the column; the other rules still
load. `klogtui alerts --check` prints the problems, the collector reports and skips them.
`rule_as_toml` writes a rule back as a table, for the TUI's rule form.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from klogtui.alerts.language import check_rule_query, duration_ns
from klogtui.errors import KlogError, QueryError

__all__ = [
    "DEFAULT_RESEND_NS",
    "Condition",
    "Rule",
    "RuleProblem",
    "RuleSet",
    "append_rule",
    "load_rules",
    "parse_rules",
    "rule_as_toml",
]

Condition = Literal["above", "absent"]

DEFAULT_RESEND_NS = 60 * 1_000_000_000  # as Prometheus's resend_delay
_NS = 1_000_000_000
_KEYS = (
    "name",
    "query",
    "window",
    "above",
    "absent",
    "for",
    "severity",
    "labels",
    "annotations",
)
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Set by klogtui on every alert it sends; a rule's labels cannot replace them.
RESERVED_LABELS = frozenset({"alertname"})


@dataclass(frozen=True)
class Rule:
    """One alert rule.

    Attributes:
        name: the alert's name (Alertmanager's `alertname`), unique in the file.
        query: klogtui query text selecting the lines the rule counts.
        window_ns: how far back matching lines count.
        condition: "above": more than `threshold` matches in the window; "absent":
            no match in the window.
        threshold: N of `above = N` (0 for absent).
        for_ns: how long the condition must hold before the alert fires.
        severity: the `severity` label.
        labels: extra labels sent with the alert.
        annotations: extra annotations sent with the alert.
    """

    name: str
    query: str
    window_ns: int
    condition: Condition
    threshold: int = 0
    for_ns: int = 0
    severity: str = "warning"
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """The condition in words: `> 10 in 5m`, `none in 1m`."""
        window = _duration_text(self.window_ns)
        what = f"> {self.threshold}" if self.condition == "above" else "none"
        held = f" for {_duration_text(self.for_ns)}" if self.for_ns else ""
        return f"{what} in {window}{held}"


@dataclass(frozen=True)
class RuleProblem:
    """A rule that cannot be used, and why.

    Attributes:
        index: which `[[alert]]` table (1 = the first in the file).
        name: the rule's name, when it has one.
        message: what is wrong.
        query: the query text, when the query is what is wrong.
        column: 0-based column of the query the message points at.
    """

    index: int
    name: str | None
    message: str
    query: str | None = None
    column: int | None = None

    def one_line(self) -> str:
        """The problem on one line (for the error log)."""
        where = "" if self.column is None else f"bad query at column {self.column + 1}: "
        return f"{self._who()}: {where}{self.message}"

    def _who(self) -> str:
        who = f"alert #{self.index}" if self.index else "config"
        who += f" {self.name!r}" if self.name else ""
        return who

    def __str__(self) -> str:
        who = self._who()
        if self.query is None or self.column is None:
            return f"{who}: {self.message}"
        return (
            f"{who}: bad query at column {self.column + 1}: {self.message}\n"
            f"  {self.query}\n  {' ' * self.column}^"
        )


@dataclass(frozen=True)
class RuleSet:
    """The rules of a config file, what is wrong with the others, and where to send."""

    rules: tuple[Rule, ...] = ()
    problems: tuple[RuleProblem, ...] = ()
    path: Path | None = None
    alertmanager: str | None = None
    resend_ns: int = DEFAULT_RESEND_NS


def load_rules(path: Path) -> RuleSet:
    """The rules in the config file at `path` (an empty set when there is no file).

    Raises:
        KlogError: the file cannot be read or is not TOML (`load_defaults` says the
            same for the rest of the file).
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return RuleSet(path=path)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KlogError(f"{path}: cannot read the configuration: {e}") from e
    return parse_rules(data, path)


def parse_rules(data: dict[str, Any], path: Path | None = None) -> RuleSet:
    """Rules from an already parsed config file (see load_rules)."""
    tables = data.get("alert", [])
    rules: list[Rule] = []
    problems: list[RuleProblem] = []
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(RuleProblem(0, None, "alert must be [[alert]] tables"))
        tables = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        try:
            rule = _rule(table)
        except _Bad as bad:
            name = table.get("name") if isinstance(table.get("name"), str) else None
            problems.append(RuleProblem(index, name, *bad.args))
            continue
        if rule.name in seen:
            problems.append(RuleProblem(index, rule.name, "a rule of this name comes earlier"))
            continue
        seen.add(rule.name)
        rules.append(rule)
    resend = DEFAULT_RESEND_NS
    text = data.get("alert_resend")
    if isinstance(text, str):  # load_defaults reports a value of the wrong type
        try:
            resend = max(_NS // 10, duration_ns(text))
        except QueryError:
            problems.append(
                RuleProblem(0, None, f"alert_resend: bad duration {text!r}: use e.g. 30s, 1m")
            )
    url = data.get("alertmanager")
    return RuleSet(
        tuple(rules),
        tuple(problems),
        path,
        url if isinstance(url, str) else None,
        resend,
    )


class _Bad(Exception):
    """(message[, query, column]) of a RuleProblem."""


def _rule(table: dict[str, Any]) -> Rule:
    unknown = [k for k in table if k not in _KEYS]
    if unknown:
        raise _Bad(f"unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _Bad('needs a name (name = "...")')
    query = table.get("query")
    if not isinstance(query, str):
        raise _Bad('needs a query (query = "level=error ...")')
    try:
        check_rule_query(query)
    except QueryError as e:
        raise _Bad(e.message, query, e.column) from None
    window_ns = _duration(table, "window", "5m")
    if window_ns < _NS:
        raise _Bad("window must be at least 1s")
    above = table.get("above")
    absent = table.get("absent")
    if (above is None) == (absent is None):
        raise _Bad("needs exactly one condition: above = N or absent = true")
    condition: Condition
    if above is not None:
        if not isinstance(above, int) or isinstance(above, bool) or above < 0:
            raise _Bad(f"above must be a whole number of lines (0 or more), not {above!r}")
        condition, threshold = "above", above
    else:
        if absent is not True:
            raise _Bad(f"absent must be true, not {absent!r}")
        condition, threshold = "absent", 0
    severity = table.get("severity", "warning")
    if not isinstance(severity, str) or not severity:
        raise _Bad(f'severity must be a word such as "warning", not {severity!r}')
    return Rule(
        name=name.strip(),
        query=query,
        window_ns=window_ns,
        condition=condition,
        threshold=threshold,
        for_ns=_duration(table, "for", "0s"),
        severity=severity,
        labels=_pairs(table, "labels", label_names=True),
        annotations=_pairs(table, "annotations", label_names=False),
    )


def _duration(table: dict[str, Any], key: str, default: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise _Bad(f'{key} must be a duration such as "5m", not {value!r}')
    if value in ("0", "0s"):
        return 0
    try:
        return duration_ns(value)
    except QueryError:
        raise _Bad(f"{key}: bad duration {value!r}: use e.g. 30s, 5m, 1h") from None


def _pairs(table: dict[str, Any], key: str, label_names: bool) -> tuple[tuple[str, str], ...]:
    value = table.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Bad(f'{key} must be a table of strings ({key} = {{ team = "shop" }})')
    for name in value:
        if label_names and not _LABEL_NAME.fullmatch(name):
            raise _Bad(f"label name {name!r}: letters, digits and _ only, not first a digit")
        if label_names and name in RESERVED_LABELS:
            raise _Bad(f"label {name!r} is set by klogtui (it is the rule's name)")
    return tuple(sorted(value.items()))


def _duration_text(ns: int) -> str:
    seconds = ns // _NS
    out = ""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def _toml_string(text: str) -> str:
    # A JSON string is a TOML basic string (same escapes; \\uXXXX for control chars).
    return json.dumps(text, ensure_ascii=False)


def rule_as_toml(rule: Rule) -> str:
    """The rule as an `[[alert]]` table, to append to the config file."""
    out = [
        "[[alert]]",
        f"name = {_toml_string(rule.name)}",
        f"query = {_toml_string(rule.query)}",
        f"window = {_toml_string(_duration_text(rule.window_ns))}",
        f"above = {rule.threshold}" if rule.condition == "above" else "absent = true",
    ]
    if rule.for_ns:
        out.append(f"for = {_toml_string(_duration_text(rule.for_ns))}")
    out.append(f"severity = {_toml_string(rule.severity)}")
    for key, pairs in (("labels", rule.labels), ("annotations", rule.annotations)):
        if pairs:
            body = ", ".join(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in pairs)
            out.append(f"{key} = {{ {body} }}")
    return "\n".join(out) + "\n"


def append_rule(path: Path, rule: Rule) -> None:
    """Add `rule` at the end of the config file at `path` (created if missing).

    Raises:
        KlogError: the file has a rule of that name already, or cannot be written.
    """
    existing = load_rules(path)
    if any(r.name == rule.name for r in existing.rules):
        raise KlogError(f"{path}: there is a rule named {rule.name!r} already")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        before = path.read_bytes() if path.exists() else b""
        with open(path, "ab") as f:
            if before and not before.endswith(b"\n"):
                f.write(b"\n")
            f.write((("\n" if before else "") + rule_as_toml(rule)).encode())
    except OSError as e:
        raise KlogError(f"{path}: cannot write the rule: {e.strerror or e}") from e
