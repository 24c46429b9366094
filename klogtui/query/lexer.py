"""The query lexer: text to tokens, each term already a node (see klogtui.query)."""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

from klogtui.errors import QueryError
from klogtui.query.ast import EventField, Field, Node, Text, TimeBound, negatable_at
from klogtui.query.keys import (
    CANONICAL,
    COMPARING_OPS,
    DOMAINS,
    FIELD_NAME,
    KEY_ALIASES,
    NUMERIC_KEYS,
    OPS,
    RESERVED,
    TIME_KEYS,
    Op,
    TimeKind,
)
from klogtui.regex_budget import compile_pattern

__all__ = ["MAX_DEPTH", "Kind", "Lexer", "Token", "lexes_to"]

MAX_DEPTH = 64  # parentheses and negations; keeps every recursion far from the limit
_KEY = re.compile(r"[^\W][\w./-]*")  # starts with a letter, digit or "_"
_OP_CHARS = "=!~<>"
_OPS: dict[str, Op] = {op: op for op in OPS}
_TIME_KINDS: dict[str, TimeKind] = {kind: kind for kind in TIME_KEYS}
_OP_HINT = "use =, !=, =~, !~, <, <=, > or >="


class Kind(Enum):
    """What a token is."""

    TERM = "term"
    LPAREN = "("
    RPAREN = ")"
    OR = "OR"
    AND = "AND"
    NOT = "NOT"
    NEG = "-"


_KEYWORDS = {"OR": Kind.OR, "AND": Kind.AND, "NOT": Kind.NOT}


class Token(NamedTuple):
    kind: Kind
    col: int
    node: Node | None = None  # a TERM's node


class Lexer:
    """Splits query text into tokens, building the terms' nodes as it goes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def error(self, message: str, col: int) -> QueryError:
        return QueryError(message, col, self.text)

    def tokens(self) -> list[Token]:
        text, n = self.text, self.n
        out: list[Token] = []
        i = 0
        while i < n:
            ch = text[i]
            if ch.isspace():
                i += 1
            elif ch == "(":
                out.append(Token(Kind.LPAREN, i))
                i += 1
            elif ch == ")":
                out.append(Token(Kind.RPAREN, i))
                i += 1
            elif ch == '"':
                value, j = self.quoted(i)
                if not value:
                    raise self.error("empty quotes", i)
                prefix = j < n and text[j] == "*"
                out.append(Token(Kind.TERM, i, Text(value, True, prefix)))
                i = j + prefix
            elif ch == "-" and negatable_at(text, i + 1):
                out.append(Token(Kind.NEG, i))
                i += 1
            else:
                tok, i = self.term(i)
                out.append(tok)
        return out

    def quoted(self, start: int) -> tuple[str, int]:
        """The unescaped text of the quoted string at start and the index after it."""
        text, n = self.text, self.n
        parts: list[str] = []
        i = start + 1
        while i < n:
            ch = text[i]
            if ch == '"':
                return "".join(parts), i + 1
            if ch == "\\" and i + 1 < n and text[i + 1] in '"\\':
                parts.append(text[i + 1])
                i += 2
                continue
            parts.append(ch)
            i += 1
        raise self.error("unterminated quote", start)

    def value(self, start: int, what: str, op_col: int) -> tuple[str, int, int]:
        """A field or time value at start: (value, its column, index after it)."""
        text, n = self.text, self.n
        if start < n and text[start] == '"':
            value, end = self.quoted(start)
        else:
            depth = 0
            end = start
            while end < n:
                ch = text[end]
                if ch.isspace() or ch == '"':
                    break
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    if depth == 0:
                        break
                    depth -= 1
                end += 1
            value = text[start:end]
        if not value:
            raise self.error(f"{what} needs a value", start if start < n else op_col)
        return value, start, end

    def term(self, start: int) -> tuple[Token, int]:
        text, n = self.text, self.n
        if negatable_at(text, start) and text[start] == ".":
            return self.event_field(start)
        m = _KEY.match(text, start)
        if m is not None:
            key, k_end = m.group(), m.end()
            low = key.lower()
            op_end = k_end
            while op_end < n and text[op_end] in _OP_CHARS:
                op_end += 1
            op = text[k_end:op_end]
            if (kind := _TIME_KINDS.get(low)) is not None:
                if op_end == k_end and k_end < n and text[k_end] == ":":
                    value, v_col, end = self.value(k_end + 1, f"{low}:", k_end)
                    # Imported by the first time bound: its patterns take ~1 ms to
                    # compile, of each `klogtui query` process.
                    from klogtui.query.times import parse_time

                    try:
                        parse_time(value)
                    except ValueError as e:
                        raise self.error(str(e), v_col) from None
                    return Token(Kind.TERM, start, TimeBound(kind, value)), end
                if op:
                    raise self.error(f"time bounds are written {low}:VALUE (e.g. {low}:15m)", k_end)
            elif (field_op := _OPS.get(op)) is not None and (
                # `a<b`, `Map<K>` and `a->b` stay words, as before comparisons existed.
                "=" in op or low in RESERVED or low.startswith("label.")
            ):
                norm = self.key(key, start)
                value, v_col, end = self.value(op_end, f"{key}{op}", k_end)
                self.check_value(norm, field_op, value, v_col, k_end)
                return Token(Kind.TERM, start, Field(norm, field_op, value)), end
            elif op and ("=" in op or low in RESERVED or low.startswith("label.")):
                raise self.error(f"unknown operator {op!r} ({_OP_HINT})", k_end)
        end = start
        while end < n and not text[end].isspace() and text[end] not in '()"':
            end += 1
        word = text[start:end]
        if word in _KEYWORDS:
            return Token(_KEYWORDS[word], start), end
        if word.endswith("*"):
            if len(word) == 1:
                raise self.error("'*' needs a word before it (e.g. timeo*)", start)
            return Token(Kind.TERM, start, Text(word[:-1], False, True)), end
        return Token(Kind.TERM, start, Text(word)), end

    def event_field(self, start: int) -> tuple[Token, int]:
        """`.path`, `.path op value` (see klogtui.query) at start, which holds a "."."""
        text, n = self.text, self.n
        path: list[str] = []
        i = start
        while i < n and text[i] == ".":
            if i + 1 < n and text[i + 1] == '"':
                name, end = self.quoted(i + 1)
                if not name:
                    raise self.error("a field name cannot be empty", i + 1)
            elif (m := FIELD_NAME.match(text, i + 1)) is not None:
                name, end = m.group(), m.end()
            else:
                raise self.error('"." needs a field name after it (e.g. .status)', i)
            if '"' in name or "\x00" in name:
                raise self.error("a field name with a quote or NUL cannot be queried", i + 1)
            path.append(name)
            i = end
        op_end = i
        while op_end < n and text[op_end] in _OP_CHARS:
            op_end += 1
        op = text[i:op_end]
        if not op:
            if i < n and not text[i].isspace() and text[i] != ")":
                raise self.error(f"expected an operator after the field name ({_OP_HINT})", i)
            return Token(Kind.TERM, start, EventField(tuple(path))), i
        field_op = _OPS.get(op)
        if field_op is None:
            raise self.error(f"unknown operator {op!r} ({_OP_HINT})", i)
        value, v_col, end = self.value(op_end, text[start:op_end], i)
        if field_op in ("=~", "!~"):
            self.check_value("", field_op, value, v_col)
        return Token(Kind.TERM, start, EventField(tuple(path), field_op, value)), end

    def key(self, key: str, col: int) -> str:
        low = key.lower()
        if low in KEY_ALIASES:
            return KEY_ALIASES[low]
        if key.startswith("label."):
            rest = key[6:]
            if not rest:
                raise self.error("label. needs a label name (e.g. label.app=web)", col)
            # Keep the prefix when dropping it would change what the key means.
            if rest.lower() in RESERVED or rest.startswith("label."):
                return key
            return rest
        return key

    def check_value(self, key: str, op: Op, value: str, col: int, op_col: int = 0) -> None:
        domain = DOMAINS.get(key)
        if key in NUMERIC_KEYS:
            if op in ("=~", "!~"):
                raise self.error(f"{key} is a number: use =, !=, <, <=, > or >=", op_col)
            if not value.isascii() or not value.isdigit():
                raise self.error(f"{key} takes a number (e.g. {key}=0, {key}>=1)", col)
        elif op in COMPARING_OPS:
            raise self.error(
                f"{op} compares numbers: use it with restart or a .field ({key} takes "
                "=, !=, =~ or !~)",
                op_col,
            )
        elif op in ("=~", "!~"):
            import regex  # imported by the first regex (see klogtui.regex_budget)

            try:
                compile_pattern(value, domain is not None)
            except (regex.error, OverflowError, RecursionError, ValueError) as e:
                raise self.error(f"bad regex: {e}", col) from None
        elif domain is not None and "*" not in value and value.lower() not in domain:
            names = ", ".join(CANONICAL[key])
            raise self.error(f"unknown {key} {value!r} (one of: {names})", col)


def lexes_to(word: str, node: Node) -> bool:
    """Whether `word` can stand bare for node, also right before a closing parenthesis."""
    try:
        toks = Lexer(word + ")").tokens()
    except QueryError:
        return False
    return len(toks) == 2 and toks[0].node == node and toks[1].kind is Kind.RPAREN
