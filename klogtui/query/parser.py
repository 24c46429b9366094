"""The query parser: tokens to the AST, every error with the column it points at."""

from __future__ import annotations

from klogtui.errors import QueryError
from klogtui.query.ast import And, Node, Not, Or, Query
from klogtui.query.lexer import MAX_DEPTH, Kind, Lexer, Token

__all__ = ["flat", "parse"]


class _Parser:
    """Recursive descent over the tokens, by the grammar in klogtui.query."""

    def __init__(self, text: str, toks: list[Token]) -> None:
        self.text = text
        self.toks = toks
        self.pos = 0

    def error(self, message: str, col: int) -> QueryError:
        return QueryError(message, col, self.text)

    def peek(self) -> Token | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def parse(self) -> Query:
        if not self.toks:
            return None
        node = self.or_expr(0)
        tok = self.peek()
        if tok is not None:  # only a ")" stops or_expr early
            raise self.error("unmatched ')'", tok.col)
        return node

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while (tok := self.peek()) is not None and tok.kind is Kind.OR:
            self.pos += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (Kind.OR, Kind.AND, Kind.RPAREN):
                raise self.error("OR needs a term on each side", tok.col)
            items.append(self.and_expr(depth))
        return flat(Or, items)

    def and_expr(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while (tok := self.peek()) is not None and tok.kind not in (Kind.OR, Kind.RPAREN):
            if tok.kind is Kind.AND:
                self.pos += 1
                nxt = self.peek()
                if nxt is None or nxt.kind in (Kind.OR, Kind.AND, Kind.RPAREN):
                    raise self.error("AND needs a term on each side", tok.col)
            items.append(self.unary(depth))
        return flat(And, items)

    def unary(self, depth: int) -> Node:
        tok = self.peek()
        if tok is None:
            raise self.error("expected a term", len(self.text))
        if depth >= MAX_DEPTH:
            raise self.error("query is nested too deeply", tok.col)
        if tok.kind in (Kind.NOT, Kind.NEG):
            self.pos += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (Kind.OR, Kind.AND, Kind.RPAREN):
                raise self.error(
                    f"{'NOT' if tok.kind is Kind.NOT else '-'} needs a term after it", tok.col
                )
            return Not(self.unary(depth + 1))
        if tok.kind is Kind.LPAREN:
            self.pos += 1
            nxt = self.peek()
            if nxt is not None and nxt.kind is Kind.RPAREN:
                raise self.error("empty parentheses", tok.col)
            if nxt is None:
                raise self.error("unclosed '('", tok.col)
            node = self.or_expr(depth + 1)
            close = self.peek()
            if close is None or close.kind is not Kind.RPAREN:
                raise self.error("unclosed '('", tok.col)
            self.pos += 1
            return node
        if tok.kind is Kind.TERM:
            self.pos += 1
            assert tok.node is not None
            return tok.node
        if tok.kind is Kind.RPAREN:
            raise self.error("unmatched ')'", tok.col)
        word = "OR" if tok.kind is Kind.OR else "AND"
        raise self.error(f"{word} needs a term on each side", tok.col)


def flat(cls: type[And] | type[Or], items: list[Node]) -> Node:
    """One node for items joined by cls, nested groups of the same kind merged."""
    if len(items) == 1:
        return items[0]
    out: list[Node] = []
    for item in items:
        out.extend(item.items if isinstance(item, cls) else (item,))
    return cls(tuple(out))


def parse(text: str) -> Query:
    """Parse query text into its AST.

    Args:
        text: the query as typed.

    Returns:
        The root node, or None when the query is empty (all whitespace).

    Raises:
        QueryError: the text is not a valid query; `column` points at the offending
            character. Nothing else is raised, whatever the text.
    """
    for i, ch in enumerate(text):
        # Lone surrogates (undecodable argv bytes) cannot be encoded for SQLite.
        if "\ud800" <= ch <= "\udfff":
            raise QueryError("invalid character (not valid Unicode)", i, text)
    return _Parser(text, Lexer(text).tokens()).parse()
