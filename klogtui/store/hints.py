"""Hints for a query that silently finds nothing: a near miss on a name, or an unknown key.

A filter on metadata that matches no source is almost always a slip: `pod=checkout`
when the pods are `checkout-7d9f-abc12` (Kubernetes adds suffixes), `pod=Checkout-*`
(names are case-sensitive), or `namepsace=shop`, which the language reads as a pod
label. The query runs as written (labels are user data, and a label may appear
later); a hint only says what was probably meant and offers the fix. The TUI shows
hints under the query bar, `klogtui query` on stderr.

Cheap by design: hints look at the stored sources (names, nodes, labels), never at
the lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Literal, NamedTuple

from klogtui.errors import QueryError
from klogtui.model import Source
from klogtui.query.ast import And, Field, Node, Not, Or, Text, quote
from klogtui.query.editing import replaced
from klogtui.query.keys import LINE_KEYS, NEGATING_OPS, NUMERIC_KEYS, SOURCE_KEYS, label_name
from klogtui.query.parsed import ParsedQuery
from klogtui.regex_budget import Budget, BudgetExceeded
from klogtui.store.compile import matcher, value_getter
from klogtui.store.read_conn import ReadConnection

__all__ = ["HINT_BUDGET_S", "Hint", "HintKind", "fixed", "hints_for", "query_hints"]

HintKind = Literal["near-name", "unknown-key"]

# Source keys whose values are not names typed from memory: a restart count (checked by
# the parser) and a workload kind (matched in any case, one of a few words).
_NOT_NAMES = NUMERIC_KEYS | {"kind"}

# Regex time the hints of one query may spend on source values. They test `=` values,
# globs, which are matched without a regex (compile.matcher) and spend none of it.
HINT_BUDGET_S = 0.2

# Keys that never get a hint: another part of the language owns them (`restart`
# selects a container instance, a leading dot names a structured field).
_NOT_LABELS = frozenset({"restart"})
# Keys people write when they mean the line's text, which is searched with words.
_TEXT_KEYS = frozenset({"message", "msg", "text", "log", "line", "content"})
# Other names people give the built-in keys (from other tools), too far to be typos.
_OTHER_NAMES = {
    "lvl": "level",
    "loglevel": "level",
    "severity": "level",
    "host": "node",
    "hostname": "node",
    "nodename": "node",
    "podname": "pod",
    "ctr": "container",
}
# A name part Kubernetes joins with a suffix: `checkout` + `-` + `7d9f-abc12`.
_SEPARATORS = "-._/:"
_SUGGESTIONS = 3


class Hint(NamedTuple):
    """What a query probably meant by one of its conditions.

    Attributes:
        kind: near-name (a name that matches nothing but a prefix or another case
            would) or unknown-key (a key that is no label of any stored pod).
        term: the condition the hint is about.
        message: one line for the user, naming the fix when there is one.
        fix: the condition to put in its place (None: no single fix).
    """

    kind: HintKind
    term: Field
    message: str
    fix: Node | None


def hints_for(query: ParsedQuery, reader: ReadConnection) -> list[Hint]:
    """The hints for `query` against the sources stored in `reader`'s store."""
    return query_hints(query, reader.sources())


def query_hints(
    query: ParsedQuery, sources: Sequence[Source], budget_s: float = HINT_BUDGET_S
) -> list[Hint]:
    """The hints for `query`, one per condition that has one, in query order.

    An empty store gives none: there is nothing yet to compare names with.
    """
    if query.ast is None or not sources:
        return []
    budget = Budget(budget_s)
    label_keys: set[str] | None = None  # gathered when a label is met
    hints: list[Hint] = []
    seen: set[Field] = set()
    for term, positive in _fields(query.ast, True):
        label = label_name(term.key)
        # Names of sources and labels only: stream and level values are checked by the
        # parser, and keys added to the language later are not labels.
        if term in seen or (term.key not in SOURCE_KEYS and label is None):
            continue
        if term.key in _NOT_NAMES:
            continue
        seen.add(term)
        if label is not None and (label in _NOT_LABELS or label.startswith(".")):
            continue
        if label is not None:
            if label_keys is None:
                label_keys = {k for s in sources for k in s.labels}
            if label not in label_keys:
                hints.append(_unknown_key(term, positive, label, label_keys))
                continue
        if term.op != "=" or not positive:
            continue
        try:
            if near := _near_name(term, sources, budget):
                hints.append(near)
        except BudgetExceeded:
            continue  # a pattern too costly to look into: no hint, the query still runs
    return hints


def fixed(query: ParsedQuery, hints: Sequence[Hint]) -> ParsedQuery | None:
    """`query` with every hint's fix in place, or None when no hint has a fix."""
    swaps: dict[Node, Node] = {h.term: h.fix for h in hints if h.fix is not None}
    if not swaps:
        return None
    return ParsedQuery.of(replaced(query.ast, swaps))


def _fields(node: Node, positive: bool) -> Iterator[tuple[Field, bool]]:
    """Every Field in the tree, and whether it selects (True) or excludes lines."""
    if isinstance(node, Field):
        yield node, positive
    elif isinstance(node, Not):
        yield from _fields(node.item, not positive)
    elif isinstance(node, (And, Or)):
        for item in node.items:
            yield from _fields(item, positive)


# -- a name that matches nothing ------------------------------------------------------------


def _near_name(term: Field, sources: Sequence[Source], budget: Budget) -> Hint | None:
    """A hint when `term` matches no source but a prefix or another case of it would."""
    get = value_getter(term.key)
    values = sorted({v for s in sources if (v := get(s)) is not None})
    if not values or any(map(matcher("=", term.value, False, budget), values)):
        return None
    value = term.value
    literal, star = (value[:-1], "*") if value.endswith("*") else (value, "")
    if "*" in literal:  # stars inside: no prefix or case of it that is simply written
        return None
    other_case = [v for v in values if v[: len(literal)].lower() == literal.lower()]
    if not star and (same := [v for v in other_case if len(v) == len(literal)]):
        return _near_hint(term, values, same[0], "match it in another case", budget)
    if star and other_case:
        recased = other_case[0][: len(literal)] + "*"
        return _near_hint(term, values, recased, "match it in another case", budget)
    starting = [v for v in values if v.startswith(literal) and len(v) > len(literal)]
    how = "start with it"
    if not starting:
        starting = [v for v in other_case if len(v) > len(literal)]
        how = "start with it in another case"
    if not starting:
        return None
    head = starting[0][: len(literal)]
    nexts = {v[len(literal)] for v in starting if v[: len(literal)] == head}
    sep = nexts.pop() if len(nexts) == 1 and nexts <= set(_SEPARATORS) else ""
    return _near_hint(term, values, head + sep + "*", how, budget)


def _near_hint(term: Field, values: list[str], value: str, how: str, budget: Budget) -> Hint:
    fix = Field(term.key, "=", value)
    n = sum(map(matcher("=", value, False, budget), values))
    label = label_name(term.key)
    if label is None:
        subject = f"no {term.key} `{term.value}`"
        counted = f"{n} {term.key}{'s' if n != 1 else ''}"
    else:
        subject = f"no label value `{label}={term.value}`"
        counted = f"{n} value{'s' if n != 1 else ''}"
    if n == 1:  # "1 pod start with it" -> "1 pod starts with it"
        verb, _, rest = how.partition(" ")
        how = f"{verb}es {rest}" if verb == "match" else f"{verb}s {rest}"
    return Hint("near-name", term, f"{subject}; {counted} {how}: {fix}", fix)


# -- a key that is no label -----------------------------------------------------------------


def _unknown_key(term: Field, positive: bool, label: str, label_keys: set[str]) -> Hint:
    subject = f"no label `{label}`"
    if label.lower() in _TEXT_KEYS:
        text = _text_form(term)
        words = 'search the text with words or "a phrase"'
        if text is None:
            return Hint("unknown-key", term, f"{subject}; {words}", None)
        # Shown as it will read in the query: `-message=~x` becomes `-x`.
        shown = text if positive else Not(text)
        return Hint("unknown-key", term, f"{subject}; {words}: {shown}", text)
    meant = _OTHER_NAMES.get(label.lower())
    close = [meant] if meant else _close_keys(label, label_keys)
    if not close and not label_keys:  # kubelet's files name no labels, the API does
        why = "no stored pod has any label (log files carry none; the Kubernetes API does)"
        return Hint("unknown-key", term, f"{subject}: {why}", None)
    if not close:
        return Hint("unknown-key", term, f"{subject} on any stored pod", None)
    fix = _parsed(str(Field(close[0], term.op, term.value)))
    names = " or ".join(close)
    return Hint("unknown-key", term, f"{subject}; did you mean {names}?", fix)


def _close_keys(key: str, label_keys: set[str]) -> list[str]:
    """The known keys nearest to `key` by edit distance (built-in keys first), if close."""
    limit = 1 if len(key) <= 4 else 2
    scored: list[tuple[int, int, str]] = []
    for rank, names in enumerate((SOURCE_KEYS + LINE_KEYS, sorted(label_keys))):
        for name in names:
            d = _distance(key.lower(), name.lower())
            if d <= limit and name != key:
                scored.append((d, rank, name))
    scored.sort()
    best = [name for d, _, name in scored if d == scored[0][0]] if scored else []
    return list(dict.fromkeys(best))[:_SUGGESTIONS]


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn a into b."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def _text_form(term: Field) -> Node | None:
    """`message=~timeout` as the text search it meant (`timeout`), when it is plain words."""
    value = term.value
    if term.op in ("=~", "!~"):
        value = re.sub(r"^\^?(?:\.\*)?|(?:\.\*)?\$?$", "", value)
        plain = re.fullmatch(r"[\w' -]+", value) is not None
    else:
        value = value.strip("*")
        plain = bool(value) and "*" not in value
    if not plain or not value.strip():
        return None
    text = _parsed(quote(value.strip()) if " " in value.strip() else value.strip())
    if not isinstance(text, Text):
        return None
    return Not(text) if term.op in NEGATING_OPS else text


def _parsed(text: str) -> Node | None:
    """The condition `text` reads as, or None when it does not parse."""
    try:
        return ParsedQuery.of(text).ast
    except QueryError:
        return None
