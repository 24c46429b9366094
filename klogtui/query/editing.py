"""Editing a query's text: set or drop its top-level conditions on one field, or
replace a condition wherever it stands.

The sources tree and the facets screen narrow a query this way, and a hint's fix
rewrites it (klogtui.store.hints); the result is the query's canonical text (see
klogtui.query.ast). A key is a metadata key or label (`pod`, `app`) or an event field
written with its dot (`.status`, `."http.route"`).
"""

from __future__ import annotations

from collections.abc import Mapping

from klogtui.errors import QueryError
from klogtui.query.ast import And, EventField, Field, Node, Not, Or, Query, path_text
from klogtui.query.keys import Op
from klogtui.query.lexer import Lexer
from klogtui.query.parser import flat, parse

__all__ = ["condition", "conjuncts", "is_condition", "replaced", "with_field", "without_field"]


def conjuncts(q: Node) -> tuple[Node, ...]:
    """The conditions ANDed at the top of q (q itself when it is not an And)."""
    return q.items if isinstance(q, And) else (q,)


def is_condition(node: Node) -> bool:
    """Whether node is one `key op value` condition (metadata, label or event field)."""
    return isinstance(node, (Field, EventField))


def _key_of(node: Node) -> str | None:
    """The normalized key a condition is on (None for anything else)."""
    if isinstance(node, Field):
        return node.key
    if isinstance(node, EventField):
        return path_text(node.path)
    return None


def condition(key: str, op: Op, value: str) -> Field | EventField:
    """The condition `key op value`, its key normalized (`ns` -> namespace).

    Raises:
        QueryError: key is not a field key.
    """
    tok = Lexer(f"{key}=*").tokens()
    node = tok[0].node if len(tok) == 1 else None
    if isinstance(node, Field):
        return Field(node.key, op, value)
    if isinstance(node, EventField):
        return EventField(node.path, op, value)
    raise QueryError(f"not a field key: {key!r}", 0, key)


def _drop(q: Query, key: str) -> tuple[list[Node], int | None]:
    """Top-level conjuncts without `key` fields, and where the first one was."""
    kept: list[Node] = []
    at: int | None = None
    for c in () if q is None else conjuncts(q):
        if _key_of(c) == key:
            at = len(kept) if at is None else at
        else:
            kept.append(c)
    return kept, at


def _join(items: list[Node]) -> str:
    if not items:
        return ""
    return str(items[0] if len(items) == 1 else flat(And, items))


def with_field(q_text: str, key: str, value: str) -> str:
    """Query text with the top-level `key` condition set to `key=value`.

    Every top-level field on that key (any operator) is replaced by one `key=value`
    at the place of the first, or, when there is none, after the leading fields.
    `value` is a glob (Kubernetes names and label values never contain "*").

    Raises:
        QueryError: q_text does not parse, or key is not a field key.
    """
    cond = condition(key, "=", value)
    if not value:
        raise QueryError(f"{key}= needs a value", 0, q_text)
    kept, at = _drop(parse(q_text), str(_key_of(cond)))
    if at is None:
        at = 0
        while at < len(kept) and is_condition(kept[at]):
            at += 1
    kept.insert(at, cond)
    return _join(kept)


def without_field(q_text: str, key: str) -> str:
    """Query text with every top-level `key` field condition removed.

    Raises:
        QueryError: q_text does not parse, or key is not a field key.
    """
    return _join(_drop(parse(q_text), str(_key_of(condition(key, "=", "*"))))[0])


def replaced(q: Query, swaps: Mapping[Node, Node]) -> str:
    """Query text with each condition that is a key of `swaps` replaced by its value,
    wherever it stands (inside groups and negations too); the rest is kept as it is."""

    def swap(node: Node) -> Node:
        if node in swaps:
            return swaps[node]
        if isinstance(node, Not):
            return Not(swap(node.item))
        if isinstance(node, (And, Or)):
            return flat(type(node), [swap(i) for i in node.items])
        return node

    return "" if q is None else str(swap(q))
