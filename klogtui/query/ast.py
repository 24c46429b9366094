"""The query's syntax tree: nodes that compare by kind and print as canonical text.

A node's `str()` is the shortest text that parses back to it (klogtui.query.lexer
decides what may stand bare and what must be quoted).
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias, TypeVar

from klogtui.query.keys import FIELD_NAME, Op, TimeKind

__all__ = [
    "And",
    "EventField",
    "Field",
    "Node",
    "Not",
    "Or",
    "Query",
    "Text",
    "TimeBound",
    "negatable_at",
    "path_text",
    "quote",
    "to_text",
]

_T = TypeVar("_T", bound=type)


def _compared_by_type(cls: _T) -> _T:
    """Make a NamedTuple node equal only to nodes of its own type.

    Nodes are NamedTuples because they are cheap to define (see klogtui.model), but
    plain tuples compare by value alone: And((a, b)) would equal Or((a, b)).
    """

    def eq(self: tuple[object, ...], other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def ne(self: tuple[object, ...], other: object) -> bool:
        return not eq(self, other)

    cls.__eq__ = eq  # type: ignore[method-assign,assignment]
    cls.__ne__ = ne  # type: ignore[method-assign,assignment]
    return cls


@_compared_by_type
class Text(NamedTuple):
    """A full-text term: a bare word (phrase=False) or a "quoted phrase"; prefix: `word*`."""

    value: str
    phrase: bool = False
    prefix: bool = False

    def __str__(self) -> str:
        star = "*" if self.prefix else ""
        word = self.value + star
        if not self.phrase and _lexes_to(word, Text(self.value, False, self.prefix)):
            return word
        return quote(self.value) + star


@_compared_by_type
class Field(NamedTuple):
    """`key op value`; key is normalized (see klogtui.query), op one of keys.OPS."""

    key: str
    op: Op
    value: str

    def __str__(self) -> str:
        written = _written(f"{self.key}{self.op}", self.value, self)
        if _lexes_to(written, self):
            return written
        # A label whose bare name reads as something else (`-x=a` is a NOT): name it
        # as a label.
        return _written(f"label.{self.key}{self.op}", self.value, self)


@_compared_by_type
class EventField(NamedTuple):
    """`.path op value` on an event's own fields (JSON or logfmt); op None: `.path`
    alone, the field exists. path: the names from the outside in (`.user.id`)."""

    path: tuple[str, ...]
    op: Op | None = None
    value: str = ""

    def __str__(self) -> str:
        name = path_text(self.path)
        return name if self.op is None else _written(f"{name}{self.op}", self.value, self)


@_compared_by_type
class TimeBound(NamedTuple):
    """`since:text` / `until:text`; text is a duration or an absolute time, as written."""

    kind: TimeKind
    text: str

    def __str__(self) -> str:
        return _written(f"{self.kind}:", self.text, self)


@_compared_by_type
class Not(NamedTuple):
    """Negation (`NOT x` or `-x`)."""

    item: Node

    def __str__(self) -> str:
        inner = str(self.item)
        if isinstance(self.item, (And, Or)) or not negatable_at(inner, 0):
            return f"-({inner})"
        return f"-{inner}"


@_compared_by_type
class And(NamedTuple):
    """All items match (adjacent terms)."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(f"({i})" if isinstance(i, (And, Or)) else str(i) for i in self.items)


@_compared_by_type
class Or(NamedTuple):
    """Any item matches."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(f"({i})" if isinstance(i, Or) else str(i) for i in self.items)


Node: TypeAlias = Text | Field | EventField | TimeBound | Not | And | Or
Query: TypeAlias = Node | None


def to_text(q: Query) -> str:
    """Canonical query text for a parsed query ("" for the empty query)."""
    return "" if q is None else str(q)


def negatable_at(text: str, i: int) -> bool:
    """Whether a '-' right before text[i] negates (so `->`, `--flag` and `-.5` stay
    words, and `-.trace_id` is a negated field)."""
    ch = text[i : i + 1]
    if ch == ".":
        nxt = text[i + 1 : i + 2]
        return nxt == '"' or FIELD_NAME.match(text, i + 1) is not None
    return ch.isalnum() or (ch != "" and ch in '"(')


def path_text(path: tuple[str, ...]) -> str:
    """A field path as written in a query: `.user.id`, `."http.route"`."""
    return "".join("." + (p if FIELD_NAME.fullmatch(p) else quote(p)) for p in path)


def quote(value: str) -> str:
    """value as a quoted string: `\\` and `\"` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lexes_to(word: str, node: Node) -> bool:
    # The lexer builds nodes, so it is imported when a node is first printed.
    from klogtui.query.lexer import lexes_to

    return lexes_to(word, node)


def _written(head: str, value: str, node: Node) -> str:
    """`head` and value as written: value bare where that reads back as node, else quoted."""
    bare = head + value
    return bare if _lexes_to(bare, node) else head + quote(value)
