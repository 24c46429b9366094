"""Text terms checked on a line's own text, for a text index that keeps no positions.

Stores made since schema 7 index with FTS5 `detail=none`: a third smaller, but FTS5
then refuses a phrase (`"connection refused"`, and a word it splits, `10.0.0.7`). The
compiler asks the index for the phrase's tokens, each anywhere in the line, and checks
the phrase on those candidate lines here: the same tokens, in order and adjacent,
as FTS5's unicode61 tokenizer splits and folds them (lower case, diacritics removed):
SQLite's own tokenizer beyond ASCII, so the check never disagrees with the index.

Every connection (schema.connect) gets the SQL function `klogtui_text_match(text,
terms)`: `terms` is a text-only part of a query (Text, And, Or, Not) encoded by
`encode`, and the function says whether the line's text satisfies it.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
from collections.abc import Callable

from klogtui.formats.ansi import strip_ansi
from klogtui.query.ast import And, Node, Not, Or, Text

__all__ = [
    "MATCH_FUNCTION",
    "encode",
    "has_phrase",
    "keeps_positions",
    "matches",
    "register",
    "tokens",
]

MATCH_FUNCTION = "klogtui_text_match"

# unicode61 on ASCII: tokens are runs of letters and digits, folded to lower case.
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")


class _Tokenizer(threading.local):
    """SQLite's own unicode61 tokenizer, for text beyond ASCII: which characters it
    takes as letters (Unicode 6.1's, and every one unassigned then) and how it folds
    them is in its tables, not in Python's. One small in-memory index per thread,
    made the first time the thread needs it."""

    conn: sqlite3.Connection | None = None

    def tokens(self, text: str) -> list[str]:
        conn = self.conn
        if conn is None:
            conn = self.conn = sqlite3.connect(":memory:", isolation_level=None)
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(m, detail=full, columnsize=0)")
            conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        conn.execute("BEGIN")
        try:
            conn.execute("INSERT INTO t(rowid, m) VALUES (1, ?)", (text,))
            found = [r[0] for r in conn.execute("SELECT term FROM v ORDER BY offset")]
        finally:
            conn.execute("ROLLBACK")  # the index is empty again for the next text
        return found


_tokenizer = _Tokenizer()


def tokens(text: str) -> list[str]:
    """The tokens FTS5 indexes for text, folded as it folds them, in order."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    return _tokenizer.tokens(text.replace("\x00", " "))


def has_phrase(node: Node) -> bool:
    """Whether a text term in node has more than one token (FTS5 without positions
    cannot match it)."""
    if isinstance(node, Text):
        return len(tokens(node.value)) > 1
    if isinstance(node, Not):
        return has_phrase(node.item)
    if isinstance(node, (And, Or)):
        return any(has_phrase(i) for i in node.items)
    return False


def encode(node: Node) -> str:
    """A text-only node (Text, And, Or, Not) as the `terms` argument of the function."""
    return json.dumps(_encoded(node), separators=(",", ":"))


def _encoded(node: Node) -> object:
    if isinstance(node, Text):
        return ["t", node.value, node.prefix]
    if isinstance(node, Not):
        return ["not", _encoded(node.item)]
    if isinstance(node, (And, Or)):
        return ["and" if isinstance(node, And) else "or", *(_encoded(i) for i in node.items)]
    raise TypeError(f"not a text term: {node!r}")


class _Line:
    """One line's text as the tests read it: an ASCII line lower-cased (searched with a
    pattern per phrase), any other as its tokens (made once, when first asked)."""

    __slots__ = ("_tokens", "ascii", "lower", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        self.lower = text.lower() if self.ascii else ""
        self._tokens: list[str] | None = None

    def tokens(self) -> list[str]:
        if self._tokens is None:
            self._tokens = tokens(self.text)
        return self._tokens


_Test = Callable[[_Line], bool]


def _phrase_test(words: list[str], prefix: bool) -> _Test:
    """Whether a line's tokens hold words adjacent and in order, the last a prefix if
    prefix (FTS5's `"a b" *`)."""
    *head, last = words
    n = len(head)
    # On ASCII text tokens are runs of [a-z0-9] once lower-cased: adjacent tokens are
    # the words with only other characters between them (one search, not a token list).
    pattern = re.compile(
        "(?<![a-z0-9])"
        + "[^a-z0-9]+".join(re.escape(w) for w in words)
        + ("" if prefix else "(?![a-z0-9])")
    )

    def test(line: _Line) -> bool:
        if line.ascii:
            return pattern.search(line.lower) is not None
        found = line.tokens()
        for i in range(len(found) - n):
            got = found[i + n]
            if (got == last or (prefix and got.startswith(last))) and found[i : i + n] == head:
                return True
        return False

    return test


def _test(spec: object) -> _Test:
    assert isinstance(spec, list)
    kind = spec[0]
    if kind == "t":
        words = tokens(spec[1])
        if not words:
            return lambda line: False  # the compiler sends only terms with tokens
        return _phrase_test(words, bool(spec[2]))
    if kind == "not":
        inner = _test(spec[1])
        return lambda line: not inner(line)
    parts = [_test(s) for s in spec[1:]]
    if kind == "and":
        return lambda line: all(p(line) for p in parts)
    return lambda line: any(p(line) for p in parts)


@functools.lru_cache(maxsize=64)
def _compiled(terms: str) -> _Test:
    return _test(json.loads(terms))


def matches(text: str, terms: str) -> bool:
    """Whether a line's text satisfies encoded terms (see encode). The text is taken as
    the index holds it: without terminal escapes (`\x1b[31mERROR` says `error`)."""
    return _compiled(terms)(_Line(strip_ansi(text)))


def _sql_match(text: object, terms: object) -> int:
    # Never raise: SQLite would end the whole read for one odd value.
    if not isinstance(text, str) or not isinstance(terms, str):
        return 0
    return int(matches(text, terms))


def register(conn: sqlite3.Connection) -> None:
    """Give a connection `klogtui_text_match(text, terms)`."""
    conn.create_function(MATCH_FUNCTION, 2, _sql_match, deterministic=True)


def keeps_positions(conn: sqlite3.Connection) -> bool:
    """Whether the store's text index keeps token positions (FTS5 `detail=full`, stores
    made before schema 7), so it can match phrases itself."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'lines_fts'").fetchone()
    return row is None or "detail=none" not in str(row[0]).replace(" ", "")
