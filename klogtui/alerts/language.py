"""The one place the alerts room touches the query language.

Every parse and compile of a rule's query goes through here, so a move of the query
language's modules is a one-line change for the whole room.
"""

from __future__ import annotations

from collections.abc import Sequence

from klogtui.errors import QueryError
from klogtui.model import Source
from klogtui.query.ast import And, Node, Not, Or, TimeBound
from klogtui.query.parser import parse
from klogtui.query.times import parse_duration_ns
from klogtui.store.compile import CompiledQuery, compile_query
from klogtui.store.text_keys import BY_ID, TextKeys

__all__ = ["CompiledQuery", "check_rule_query", "compile_rule_query", "duration_ns"]


def duration_ns(text: str) -> int:
    """`5m`, `30s`, `1h30m` in ns.

    Raises:
        QueryError: not such a duration.
    """
    return parse_duration_ns(text)


def check_rule_query(text: str) -> None:
    """Raise QueryError (with its column) when `text` cannot be an alert rule's query."""
    q = parse(text)
    if q is None:
        raise QueryError("empty query: a rule needs something to match", 0, text)
    bound = _time_bound(q)
    if bound is not None:
        raise QueryError(
            f"{bound.kind}: has no place in an alert rule (its window says how far back)",
            max(0, text.find(f"{bound.kind}:")),
            text,
        )


def compile_rule_query(
    text: str, sources: Sequence[Source], now_ns: int, keys: TextKeys = BY_ID
) -> CompiledQuery:
    """The rule's query compiled against the store's current sources, for a text index
    keyed as `keys` says (text_keys.of).

    Raises:
        QueryError: the text does not parse, or its regexes ran past their budget.
    """
    return compile_query(parse(text), sources, now_ns, text, keys=keys)


def _time_bound(node: Node) -> TimeBound | None:
    if isinstance(node, TimeBound):
        return node
    children: tuple[Node, ...] = ()
    if isinstance(node, (And, Or)):
        children = node.items
    elif isinstance(node, Not):
        children = (node.item,)
    for child in children:
        found = _time_bound(child)
        if found is not None:
            return found
    return None
