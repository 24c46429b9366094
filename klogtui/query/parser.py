"""The query language: text -> AST -> SQL over the store, and back to text.

One grammar serves the TUI search bar and `klogtui query`. In EBNF (ISO 14977; `ws` is
any run of Unicode whitespace, allowed between all tokens and required between two
terms that would otherwise run together)::

    query      = [ or_expr ] ;
    or_expr    = and_expr , { "OR" , and_expr } ;
    and_expr   = unary , { [ "AND" ] , unary } ;          (* adjacent terms AND *)
    unary      = "NOT" , unary
               | "-" , unary                               (* no space after "-", and the
                                                              next char is alnum, '"' or "(" *)
               | primary ;
    primary    = "(" , or_expr , ")" | term ;
    term       = time_bound | field | text ;
    time_bound = ( "since" | "until" ) , ":" , ( time | quoted ) ;
    time       = duration | absolute ;
    duration   = { digits , ( "w" | "d" | "h" | "m" | "s" ) }- ;        (* 15m, 1h30m, 7d *)
    absolute   = date , [ ( "T" | " " ) , hh , ":" , mm , [ ":" , ss , [ "." , frac ] ] ,
                 [ "Z" | ( "+" | "-" ) , hh , [ ":" ] , mm ] ] ;     (* 2026-11-24T10:00Z *)
    date       = yyyy , "-" , mm , "-" , dd ;
    field      = key , op , ( quoted | value ) ;
    op         = "=" | "!=" | "=~" | "!~" ;
    key        = key_start , { key_start | "." | "/" | "-" } ;
    key_start  = ? a letter or digit ? | "_" ;
    value      = { ? any char but whitespace and '"'; ")" only to close a "(" of the
                 value itself ? }- ;
    text       = quoted , [ "*" ] | word ;
    word       = { ? any char but whitespace, "(", ")" and '"' ? }- ;  (* not OR/AND/NOT;
                                                                          a final "*" makes
                                                                          it a prefix *)
    quoted     = '"' , { ? any char but '"' and "\" ? | "\" , ? any char ? } , '"' ;

Inside quotes `\\"` is a quote and `\\\\` a backslash; any other backslash is kept as is
(so `"C:\\temp"` means what it says). `OR`, `AND` and `NOT` are keywords only in
upper case. OR binds looser than AND: `a b OR c` is `(a b) OR c`.

Keys: namespace (ns), pod, container (c), node, stream, level; any other key is a pod
label (`app=web`; `label.app=web` says the same, and `label.pod=x` names a label that
shares a name with a key). Values are globs for `=`/`!=` (only `*` is special) and
Python regexes, searched anywhere in the value, for `=~`/`!~`; a query's regexes and globs
get one second of matching in all (regex_budget), past which the query fails with a
message instead of hanging. Names, nodes and labels
match case-sensitively; stream (stdout, stderr, raw, combined) and level (none, trace,
debug, info, warn, error, fatal; aliases warning, err, critical, unknown)
case-insensitively.
`!=` and `!~` are the negations of `=` and `=~`, so `app!=web` also selects pods without
an `app` label, as in Kubernetes label selectors.

Text terms are full-text (SQLite FTS5, unicode61 tokens): a word or phrase matches its
tokens in order, case- and accent-insensitively; `timeo*` is a prefix. A term with no
letter or digit (`::`, `->`) has no tokens, so it is matched as a case-sensitive
substring instead.

Time bounds: `since:15m` / `until:2h` count back from now; absolute times without an
offset are UTC. since is inclusive, until exclusive, both to the store's 10 µs id
granularity, rounded outwards: a line in the bound's own 10 µs bucket is always kept.

`parse` gives the AST (frozen dataclasses whose `str()` is canonical query text, so
`parse(str(q)) == q`); `compile_query` turns it into SQL for the store's reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple, TypeAlias, TypeVar

import regex

from klogtui.errors import QueryError
from klogtui.model import Level, Source, Stream
from klogtui.store import regex_budget
from klogtui.store.ids import id_before_ts, id_for_ts, past_last_bucket
from klogtui.store.regex_budget import Budget, BudgetExceeded, compile_pattern, searcher

__all__ = [
    "And",
    "CompiledQuery",
    "Field",
    "Node",
    "Not",
    "Or",
    "Query",
    "Text",
    "TimeBound",
    "compile_query",
    "compile_source_predicate",
    "label_name",
    "parse",
    "parse_duration_ns",
    "to_text",
    "with_field",
    "without_field",
]

# -- AST ------------------------------------------------------------------------------

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
        return _quote(self.value) + star


@_compared_by_type
class Field(NamedTuple):
    """`key op value`; key is normalized (see the module docstring), op one of OPS."""

    key: str
    op: str
    value: str

    def __str__(self) -> str:
        written = _written(f"{self.key}{self.op}", self.value, self)
        if _lexes_to(written, self):
            return written
        # A label whose bare name reads as something else (`-x=a` is a NOT): name it
        # as a label.
        return _written(f"label.{self.key}{self.op}", self.value, self)


@_compared_by_type
class TimeBound(NamedTuple):
    """`since:text` / `until:text`; text is a duration or an absolute time, as written."""

    kind: str
    text: str

    def __str__(self) -> str:
        return _written(f"{self.kind}:", self.text, self)


@_compared_by_type
class Not(NamedTuple):
    """Negation (`NOT x` or `-x`)."""

    item: Node

    def __str__(self) -> str:
        inner = str(self.item)
        if isinstance(self.item, (And, Or)) or not _negatable_start(inner[:1]):
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


Node: TypeAlias = Text | Field | TimeBound | Not | And | Or
Query: TypeAlias = Node | None

OPS = ("=", "!=", "=~", "!~")
SOURCE_KEYS = ("namespace", "pod", "container", "node")
LINE_KEYS = ("stream", "level")
_KEY_ALIASES = {k: k for k in SOURCE_KEYS + LINE_KEYS} | {"ns": "namespace", "c": "container"}
_TIME_KEYS = ("since", "until")
_RESERVED = frozenset(_KEY_ALIASES) | frozenset(_TIME_KEYS)

STREAM_NAMES: dict[str, int] = {s.label: int(s) for s in Stream}
LEVEL_NAMES: dict[str, int] = {(lv.label or "none"): int(lv) for lv in Level}
_LEVEL_ALIASES = {
    "warning": Level.WARN,
    "err": Level.ERROR,
    "critical": Level.FATAL,
    "unknown": Level.UNKNOWN,
}
# Every name a stream/level value can be matched against, with the value it stands for.
_DOMAINS: dict[str, dict[str, int]] = {
    "stream": STREAM_NAMES,
    "level": LEVEL_NAMES | {k: int(v) for k, v in _LEVEL_ALIASES.items()},
}
_CANONICAL = {"stream": tuple(STREAM_NAMES), "level": tuple(LEVEL_NAMES)}


def label_name(key: str) -> str | None:
    """The pod label a normalized Field key stands for, or None for a built-in key."""
    if key in _KEY_ALIASES:
        return None
    return key[6:] if key.startswith("label.") else key


def to_text(q: Query) -> str:
    """Canonical query text for a parsed query ("" for the empty query)."""
    return "" if q is None else str(q)


# -- lexer ----------------------------------------------------------------------------

_MAX_DEPTH = 64  # parentheses and negations; keeps every recursion far from the limit
_KEY = re.compile(r"[^\W][\w./-]*")  # starts with a letter, digit or "_"
_OP_CHARS = "=!~<>"
_DURATION = re.compile(r"(?:[0-9]{1,12}[wdhms])+")
_DURATION_PART = re.compile(r"([0-9]+)([wdhms])")
_UNIT_NS = {
    "w": 604_800 * 10**9,
    "d": 86_400 * 10**9,
    "h": 3_600 * 10**9,
    "m": 60 * 10**9,
    "s": 10**9,
}
_ABSOLUTE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Token kinds.
_TERM, _LPAREN, _RPAREN, _OR, _AND, _NOT, _NEG = range(7)
_KEYWORDS = {"OR": _OR, "AND": _AND, "NOT": _NOT}


class _Tok(NamedTuple):
    kind: int
    col: int
    node: Node | None = None


def _negatable_start(ch: str) -> bool:
    """Whether a '-' right before ch negates (so `->` and `--flag` stay words)."""
    return ch.isalnum() or ch in '"('


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def error(self, message: str, col: int) -> QueryError:
        return QueryError(message, col, self.text)

    def tokens(self) -> list[_Tok]:
        text, n = self.text, self.n
        out: list[_Tok] = []
        i = 0
        while i < n:
            ch = text[i]
            if ch.isspace():
                i += 1
            elif ch == "(":
                out.append(_Tok(_LPAREN, i))
                i += 1
            elif ch == ")":
                out.append(_Tok(_RPAREN, i))
                i += 1
            elif ch == '"':
                value, j = self.quoted(i)
                if not value:
                    raise self.error("empty quotes", i)
                prefix = j < n and text[j] == "*"
                out.append(_Tok(_TERM, i, Text(value, True, prefix)))
                i = j + prefix
            elif ch == "-" and i + 1 < n and _negatable_start(text[i + 1]):
                out.append(_Tok(_NEG, i))
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

    def term(self, start: int) -> tuple[_Tok, int]:
        text, n = self.text, self.n
        m = _KEY.match(text, start)
        if m is not None:
            key, k_end = m.group(), m.end()
            low = key.lower()
            op_end = k_end
            while op_end < n and text[op_end] in _OP_CHARS:
                op_end += 1
            op = text[k_end:op_end]
            if low in _TIME_KEYS:
                if op_end == k_end and k_end < n and text[k_end] == ":":
                    value, v_col, end = self.value(k_end + 1, f"{low}:", k_end)
                    try:
                        _parse_time(value)
                    except ValueError as e:
                        raise self.error(str(e), v_col) from None
                    return _Tok(_TERM, start, TimeBound(low, value)), end
                if op:
                    raise self.error(f"time bounds are written {low}:VALUE (e.g. {low}:15m)", k_end)
            elif op in OPS:
                norm = self.key(key, start)
                value, v_col, end = self.value(op_end, f"{key}{op}", k_end)
                self.check_value(norm, op, value, v_col)
                return _Tok(_TERM, start, Field(norm, op, value)), end
            elif op and ("=" in op or low in _RESERVED or low.startswith("label.")):
                raise self.error(f"unknown operator {op!r} (use =, !=, =~ or !~)", k_end)
        end = start
        while end < n and not text[end].isspace() and text[end] not in '()"':
            end += 1
        word = text[start:end]
        if word in _KEYWORDS:
            return _Tok(_KEYWORDS[word], start), end
        if word.endswith("*"):
            if len(word) == 1:
                raise self.error("'*' needs a word before it (e.g. timeo*)", start)
            return _Tok(_TERM, start, Text(word[:-1], False, True)), end
        return _Tok(_TERM, start, Text(word)), end

    def key(self, key: str, col: int) -> str:
        low = key.lower()
        if low in _KEY_ALIASES:
            return _KEY_ALIASES[low]
        if key.startswith("label."):
            rest = key[6:]
            if not rest:
                raise self.error("label. needs a label name (e.g. label.app=web)", col)
            # Keep the prefix when dropping it would change what the key means.
            if rest.lower() in _RESERVED or rest.startswith("label."):
                return key
            return rest
        return key

    def check_value(self, key: str, op: str, value: str, col: int) -> None:
        domain = _DOMAINS.get(key)
        if op in ("=~", "!~"):
            try:
                compile_pattern(value, domain is not None)
            except (regex.error, OverflowError, RecursionError, ValueError) as e:
                raise self.error(f"bad regex: {e}", col) from None
        elif domain is not None and "*" not in value and value.lower() not in domain:
            names = ", ".join(_CANONICAL[key])
            raise self.error(f"unknown {key} {value!r} (one of: {names})", col)


def _lexes_to(word: str, node: Node) -> bool:
    """Whether `word` can stand bare for node, also right before a closing parenthesis."""
    try:
        toks = _Lexer(word + ")").tokens()
    except QueryError:
        return False
    return len(toks) == 2 and toks[0].node == node and toks[1].kind == _RPAREN


def _written(head: str, value: str, node: Node) -> str:
    """`head` and value as written: value bare where that reads back as node, else quoted."""
    bare = head + value
    return bare if _lexes_to(bare, node) else head + _quote(value)


# -- time -----------------------------------------------------------------------------


def _parse_time(text: str) -> tuple[bool, int]:
    """(relative, ns): a duration back from now, or an absolute time in UTC ns.

    Raises:
        ValueError: with a user-facing message.
    """
    if _DURATION.fullmatch(text):
        return True, sum(int(n) * _UNIT_NS[u] for n, u in _DURATION_PART.findall(text))
    m = _ABSOLUTE.fullmatch(text)
    if m is None:
        raise ValueError(
            f"bad time {text!r}: use a duration (15m, 2h, 1h30m, 7d) or a time "
            "(2026-11-24, 2026-11-24T10:00, 2026-11-24T10:00:00Z, ...+02:00)"
        )
    y, mo, d, hh, mm, ss, frac, _z, sign, oh, om = m.groups()
    tz = UTC
    if sign is not None:
        off = timedelta(hours=int(oh), minutes=int(om))
        if int(om) >= 60 or off >= timedelta(hours=24):
            raise ValueError(f"bad time {text!r}: offset out of range")
        tz = timezone(off if sign == "+" else -off)
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"bad time {text!r}: {e}") from None
    delta = dt - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 10**9
    return False, ns + (int(frac.ljust(9, "0")) if frac else 0)


def parse_duration_ns(text: str) -> int:
    """A duration in the query language's form (15m, 2h, 1h30m, 7d, 1w) in nanoseconds.

    For options such as `--since 1h` that should read like `since:1h`.

    Raises:
        QueryError: text is not such a duration (column 0 of text).
    """
    if not _DURATION.fullmatch(text):
        raise QueryError(f"bad duration {text!r}: use e.g. 30s, 15m, 2h, 1h30m, 7d", 0, text)
    return _parse_time(text)[1]


def _time_ns(text: str, now_ns: int) -> int:
    relative, ns = _parse_time(text)
    return now_ns - ns if relative else ns


# -- parser ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, toks: list[_Tok]) -> None:
        self.text = text
        self.toks = toks
        self.pos = 0

    def error(self, message: str, col: int) -> QueryError:
        return QueryError(message, col, self.text)

    def peek(self) -> _Tok | None:
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
        while (tok := self.peek()) is not None and tok.kind == _OR:
            self.pos += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (_OR, _AND, _RPAREN):
                raise self.error("OR needs a term on each side", tok.col)
            items.append(self.and_expr(depth))
        return _flat(Or, items)

    def and_expr(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while (tok := self.peek()) is not None and tok.kind not in (_OR, _RPAREN):
            if tok.kind == _AND:
                self.pos += 1
                nxt = self.peek()
                if nxt is None or nxt.kind in (_OR, _AND, _RPAREN):
                    raise self.error("AND needs a term on each side", tok.col)
            items.append(self.unary(depth))
        return _flat(And, items)

    def unary(self, depth: int) -> Node:
        tok = self.peek()
        if tok is None:
            raise self.error("expected a term", len(self.text))
        if depth >= _MAX_DEPTH:
            raise self.error("query is nested too deeply", tok.col)
        if tok.kind in (_NOT, _NEG):
            self.pos += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (_OR, _AND, _RPAREN):
                raise self.error(
                    f"{'NOT' if tok.kind == _NOT else '-'} needs a term after it", tok.col
                )
            return Not(self.unary(depth + 1))
        if tok.kind == _LPAREN:
            self.pos += 1
            nxt = self.peek()
            if nxt is not None and nxt.kind == _RPAREN:
                raise self.error("empty parentheses", tok.col)
            if nxt is None:
                raise self.error("unclosed '('", tok.col)
            node = self.or_expr(depth + 1)
            close = self.peek()
            if close is None or close.kind != _RPAREN:
                raise self.error("unclosed '('", tok.col)
            self.pos += 1
            return node
        if tok.kind == _TERM:
            self.pos += 1
            assert tok.node is not None
            return tok.node
        if tok.kind == _RPAREN:
            raise self.error("unmatched ')'", tok.col)
        word = "OR" if tok.kind == _OR else "AND"
        raise self.error(f"{word} needs a term on each side", tok.col)


def _flat(cls: type[And] | type[Or], items: list[Node]) -> Node:
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
    return _Parser(text, _Lexer(text).tokens()).parse()


# -- compiler -------------------------------------------------------------------------


class CompiledQuery(NamedTuple):
    """A query as SQL over `lines l` (see klogtui.store.schema), split for fast paths.

    A line matches when ALL of these hold (`full_where` gives them as one expression):

    Attributes:
        fts: an FTS5 MATCH expression over lines_fts (rowid = l.id), or None.
        where: SQL boolean over alias `l` with `?` placeholders; "1" when empty. It only
            reads l.id, l.source_id, l.stream, l.level, l.message and (past 2059) l.ts.
        params: values for the placeholders in `where`, in order.
        source_ids: the line's source must be one of these (None: any source). Computed
            from the sources given to compile_query: recompile when they change.
        min_id: inclusive lower bound on l.id (from since:), or None.
        max_id: exclusive upper bound on l.id (from until:), or None.
        highlight: positive text terms and phrases to highlight (prefixes without "*").
        is_text: whether the query has any text term.
    """

    fts: str | None
    where: str
    params: tuple[str, ...]
    source_ids: frozenset[int] | None
    min_id: int | None
    max_id: int | None
    highlight: tuple[str, ...]
    is_text: bool

    def full_where(self) -> tuple[str, tuple[str, ...]]:
        """The whole query as one SQL boolean over `l`, with its parameters."""
        parts: list[str] = []
        params: list[str] = []
        if self.fts is not None:
            parts.append(_FTS_IN)
            params.append(self.fts)
        if self.source_ids is not None:
            parts.append(_ids_in("l.source_id", self.source_ids))
        if self.min_id is not None:
            parts.append(f"l.id >= {int(self.min_id)}")
        if self.max_id is not None:
            parts.append(f"l.id < {int(self.max_id)}")
        parts.append(self.where)
        params.extend(self.params)
        return " AND ".join(f"({p})" for p in parts), tuple(params)


_FTS_IN = "l.id IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)"
_FTS_NOT_IN = "l.id NOT IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)"
_EMPTY = CompiledQuery(None, "1", (), None, None, None, (), False)

SourcePredicate: TypeAlias = Callable[[Source], bool]


def _ids_in(column: str, ids: frozenset[int] | set[int]) -> str:
    # Ints only, so inlining them is safe; "0" is SQL false when nothing matches.
    if not ids:
        return "0"
    return f"{column} IN ({','.join(str(int(i)) for i in sorted(ids))})"


def _has_tokens(value: str) -> bool:
    """Whether FTS5's unicode61 tokenizer finds a token (letters and digits) in value."""
    return any(ch.isalnum() for ch in value)


def _fts_literal(t: Text) -> str:
    # A string literal is the one FTS5 construct with no syntax inside: every user
    # character is data. NUL would end the string early; it separates tokens anyway.
    lit = '"' + t.value.replace('"', '""').replace("\x00", " ") + '"'
    return lit + " *" if t.prefix else lit


def _fts_expr(node: Node) -> str | None:
    """node as one parenthesized FTS5 expression, or None if FTS5 cannot express it."""
    if isinstance(node, Text):
        return _fts_literal(node) if _has_tokens(node.value) else None
    if isinstance(node, Or):
        parts = [_fts_expr(i) for i in node.items]
        if any(p is None for p in parts):
            return None
        return "(" + " OR ".join(p for p in parts if p) + ")"
    if isinstance(node, And):
        pos: list[str] = []
        neg: list[str] = []
        for item in node.items:
            if isinstance(item, Not):
                e = _fts_expr(item.item)
                if e is None:
                    return None
                neg.append(e)
            else:
                e = _fts_expr(item)
                if e is None:
                    return None
                pos.append(e)
        if not pos:  # FTS5 NOT is binary: it needs something to subtract from
            return None
        return "(" + _fts_and_not(pos, neg) + ")"
    return None


def _fts_and_not(pos: list[str], neg: list[str]) -> str:
    expr = " AND ".join(pos)
    if neg:
        expr = f"({expr}) NOT ({' OR '.join(neg)})"
    return expr


def _glob(value: str) -> str:
    return "(?s:" + ".*".join(regex.escape(part) for part in value.split("*")) + ")"


def _matcher(op: str, value: str, ignore_case: bool, budget: Budget) -> Callable[[str], bool]:
    """The positive form (= or =~) of op as a test on strings, within budget.

    A glob is a regex too (`*a*a*b` backtracks), so both share the query's budget.
    """
    if op in ("=~", "!~"):
        return searcher(compile_pattern(value, ignore_case), budget)
    if "*" in value:
        return searcher(compile_pattern(_glob(value), ignore_case), budget, full=True)
    if ignore_case:
        folded = value.casefold()
        return lambda s: s.casefold() == folded
    return lambda s: s == value


def _field_pred(f: Field, budget: Budget) -> SourcePredicate:
    test = _budgeted(f, _matcher(f.op, f.value, False, budget))
    negate = f.op in ("!=", "!~")
    label = label_name(f.key)
    get: Callable[[Source], str | None]
    if label is not None:
        get = lambda s: s.labels.get(label)  # noqa: E731
    elif f.key == "node":
        get = lambda s: s.node  # noqa: E731
    else:
        attr = f.key
        get = lambda s: getattr(s.key, attr)  # noqa: E731

    def has(s: Source) -> bool:
        v = get(s)
        return v is not None and test(v)

    if negate:
        return lambda s: not has(s)
    return has


def _budgeted(f: Field, test: Callable[[str], bool]) -> Callable[[str], bool]:
    """test, its BudgetExceeded naming the field that spent the budget."""

    def run(s: str) -> bool:
        try:
            return test(s)
        except BudgetExceeded:
            raise BudgetExceeded(f) from None

    return run


def _budget_error(e: BudgetExceeded, budget: Budget, text: str) -> QueryError:
    f = e.args[0] if e.args else None
    if not isinstance(f, Field):
        return QueryError("a regex ran too long", 0, text)
    col = text.find(f.value)
    return QueryError(
        f"{f.key}{f.op}{f.value} took longer than {budget.seconds:g} s to match: the "
        "pattern backtracks (nested repeats such as (a|a)+); simplify it",
        max(col, 0),
        text,
    )


def _source_pred(node: Node, budget: Budget) -> SourcePredicate | None:
    """node as a test on sources, or None if it looks at anything but sources."""
    if isinstance(node, Field):
        return None if node.key in LINE_KEYS else _field_pred(node, budget)
    if isinstance(node, Not):
        inner = _source_pred(node.item, budget)
        return None if inner is None else (lambda s: not inner(s))
    if isinstance(node, (And, Or)):
        preds = [_source_pred(i, budget) for i in node.items]
        if any(p is None for p in preds):
            return None
        ps = [p for p in preds if p is not None]
        if isinstance(node, And):
            return lambda s: all(p(s) for p in ps)
        return lambda s: any(p(s) for p in ps)
    return None


def _domain_values(f: Field, budget: Budget) -> set[int]:
    """The stream or level values f selects."""
    domain = _DOMAINS[f.key]
    test = _budgeted(f, _matcher(f.op, f.value, True, budget))
    hit = {v for name, v in domain.items() if test(name)}
    if f.op in ("!=", "!~"):
        return set(domain.values()) - hit
    return hit


class _Compiler:
    def __init__(self, sources: Sequence[Source], now_ns: int, budget: Budget) -> None:
        self.sources = sources
        self.now_ns = now_ns
        self.budget = budget
        self.params: list[str] = []

    def source_ids(self, pred: SourcePredicate) -> set[int]:
        return {s.id for s in self.sources if pred(s)}

    def sql(self, node: Node) -> str:
        pred = _source_pred(node, self.budget)
        if pred is not None:
            return _ids_in("l.source_id", self.source_ids(pred))
        fts = _fts_expr(node)
        if fts is not None:
            self.params.append(fts)
            return _FTS_IN
        if isinstance(node, Text):  # no tokens: FTS5 cannot see it, use a substring test
            self.params.append(node.value)
            return "instr(l.message, ?) > 0"
        if isinstance(node, Field):  # stream or level: the only non-source fields
            return _ids_in(f"l.{node.key}", _domain_values(node, self.budget))
        if isinstance(node, TimeBound):
            ts = _time_ns(node.text, self.now_ns)
            exact = _past_ids_pred(node.kind, ts)
            if node.kind == "until" and exact:
                return exact
            if node.kind == "since":
                bound = f"l.id >= {id_for_ts(ts)}"
            else:
                bound = f"l.id < {id_before_ts(ts)}"
            return f"({bound} AND {exact})" if exact else bound
        if isinstance(node, Not):
            inner_fts = _fts_expr(node.item)
            if inner_fts is not None:
                self.params.append(inner_fts)
                return _FTS_NOT_IN
            return f"NOT ({self.sql(node.item)})"
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(self.sql(i) for i in node.items) + ")"


def _past_ids_pred(kind: str, ts: int) -> str:
    """A timestamp test for a bound past 2059, where lines share the last id bucket
    and an id bound alone would take all of them or none; "" elsewhere."""
    if not past_last_bucket(ts):
        return ""
    return f"l.ts >= {int(ts)}" if kind == "since" else f"l.ts < {int(ts)}"


def _conjuncts(q: Node) -> tuple[Node, ...]:
    return q.items if isinstance(q, And) else (q,)


def _texts(node: Node, positive: bool, out: list[str], seen: set[str]) -> bool:
    """Collect positive text values into out; return whether any text term exists."""
    if isinstance(node, Text):
        if positive and node.value not in seen:
            seen.add(node.value)
            out.append(node.value)
        return True
    if isinstance(node, Not):
        return _texts(node.item, not positive, out, seen)
    if isinstance(node, (And, Or)):
        found = False
        for item in node.items:
            found = _texts(item, positive, out, seen) or found
        return found
    return False


def compile_query(
    q: Query, sources: Sequence[Source], now_ns: int, text: str = ""
) -> CompiledQuery:
    """Compile a parsed query against the store schema.

    Args:
        q: a query from parse().
        sources: every stored source; source conditions are evaluated on them here.
        now_ns: "now" in UTC ns, for since:/until: durations.
        text: the query as typed, for error messages.

    Returns:
        The compiled query. Source conditions depend on `sources` and durations on
        `now_ns`: compile again when either should change.

    Raises:
        QueryError: its regexes and globs ran past regex_budget.REGEX_BUDGET_S.
    """
    if q is None:
        return _EMPTY
    budget = Budget(regex_budget.REGEX_BUDGET_S)
    try:
        return _compile(q, sources, now_ns, budget)
    except BudgetExceeded as e:
        raise _budget_error(e, budget, text or str(q)) from None


def _compile(q: Node, sources: Sequence[Source], now_ns: int, budget: Budget) -> CompiledQuery:
    comp = _Compiler(sources, now_ns, budget)
    fts_pos: list[str] = []
    fts_neg: list[str] = []
    where: list[str] = []
    src_preds: list[SourcePredicate] = []
    min_id: int | None = None
    max_id: int | None = None
    for c in _conjuncts(q):
        if isinstance(c, TimeBound):
            ts = _time_ns(c.text, now_ns)
            if exact := _past_ids_pred(c.kind, ts):
                where.append(exact)
                if c.kind == "until":
                    continue  # the id bound would cut off every line past 2059
            if c.kind == "since":
                line_id = id_for_ts(ts)
                min_id = line_id if min_id is None else max(min_id, line_id)
            else:
                line_id = id_before_ts(ts)
                max_id = line_id if max_id is None else min(max_id, line_id)
        elif (pred := _source_pred(c, budget)) is not None:
            src_preds.append(pred)
        elif (e := _fts_expr(c)) is not None:
            fts_pos.append(e)
        elif isinstance(c, Not) and (e := _fts_expr(c.item)) is not None:
            fts_neg.append(e)
        else:
            where.append(comp.sql(c))
    fts: str | None = None
    if fts_pos:
        fts = _fts_and_not(fts_pos, fts_neg)
    elif fts_neg:  # only exclusions: nothing for a MATCH to start from
        where.append(_FTS_NOT_IN)
        comp.params.append(" OR ".join(fts_neg))
    source_ids: frozenset[int] | None = None
    if src_preds:
        source_ids = frozenset(comp.source_ids(lambda s: all(p(s) for p in src_preds)))
    highlight: list[str] = []
    is_text = _texts(q, True, highlight, set())
    return CompiledQuery(
        fts=fts,
        where=" AND ".join(where) or "1",
        params=tuple(comp.params),
        source_ids=source_ids,
        min_id=min_id,
        max_id=max_id,
        highlight=tuple(highlight),
        is_text=is_text,
    )


def compile_source_predicate(q: Query, budget_s: float | None = None) -> SourcePredicate | None:
    """Which sources a query selects, for the UI (e.g. to dim the sources tree).

    Args:
        q: a query from parse().
        budget_s: seconds of regex matching the test may spend over its whole life
            (default regex_budget.REGEX_BUDGET_S); keep it small on the UI's thread.

    Returns:
        A test on sources built from the query's top-level source conditions (those
        ANDed with the rest), or None when the query does not constrain sources. The
        test raises QueryError once its budget is spent.
    """
    if q is None:
        return None
    budget = Budget(regex_budget.REGEX_BUDGET_S if budget_s is None else budget_s)
    preds = [p for c in _conjuncts(q) if (p := _source_pred(c, budget)) is not None]
    if not preds:
        return None

    def test(s: Source) -> bool:
        try:
            return all(p(s) for p in preds)
        except BudgetExceeded as e:
            raise _budget_error(e, budget, str(q)) from None

    return test


# -- editing query text -----------------------------------------------------------------


def _normalize_key(key: str) -> str:
    tok = _Lexer(f"{key}=*").tokens()
    if len(tok) != 1 or not isinstance(tok[0].node, Field):
        raise QueryError(f"not a field key: {key!r}", 0, key)
    return tok[0].node.key


def _drop(q: Query, key: str) -> tuple[list[Node], int | None]:
    """Top-level conjuncts without `key` fields, and where the first one was."""
    kept: list[Node] = []
    at: int | None = None
    for c in () if q is None else _conjuncts(q):
        if isinstance(c, Field) and c.key == key:
            at = len(kept) if at is None else at
        else:
            kept.append(c)
    return kept, at


def _join(items: list[Node]) -> str:
    if not items:
        return ""
    return str(items[0] if len(items) == 1 else _flat(And, items))


def with_field(q_text: str, key: str, value: str) -> str:
    """Query text with the top-level `key` condition set to `key=value`.

    Every top-level field on that key (any operator) is replaced by one `key=value`
    at the place of the first, or, when there is none, after the leading fields.
    `value` is a glob (Kubernetes names and label values never contain "*").

    Raises:
        QueryError: q_text does not parse, or key is not a field key.
    """
    norm = _normalize_key(key)
    if not value:
        raise QueryError(f"{key}= needs a value", 0, q_text)
    kept, at = _drop(parse(q_text), norm)
    if at is None:
        at = 0
        while at < len(kept) and isinstance(kept[at], Field):
            at += 1
    kept.insert(at, Field(norm, "=", value))
    return _join(kept)


def without_field(q_text: str, key: str) -> str:
    """Query text with every top-level `key` field condition removed.

    Raises:
        QueryError: q_text does not parse, or key is not a field key.
    """
    return _join(_drop(parse(q_text), _normalize_key(key))[0])
