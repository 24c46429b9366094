"""The text index's key of a line: its id, or (stores made since schema 8) its 10 µs bucket.

A store made since schema 8 indexes each transaction's lines of one 10 µs bucket as one
FTS5 row whose rowid is the bucket (`id >> SLOT_BITS`, the "text key") and whose text is
theirs joined by newlines. Keys close together make the index's rowid deltas small: it
takes ~40% less space than with the line id as rowid. The index keeps no positions
(detail=none), so a key's row holds exactly the union of its lines' tokens, and a later
transaction adding a line to a bucket already indexed adds a second row with that key:
FTS5 then finds the key under every token of either.

A key hit only says that SOME line of the bucket has the tokens. A line alone in its
bucket (the common case) is what its key says; a line sharing its bucket is checked on
its own text (text_terms.py), so results and counts stay exact. Retention deletes whole
buckets, handing FTS5 one 'delete' per key with all its lines' text.

Stores made before keep rowid = line id: shift 0 below, the same code path. The shift is
recorded in the `meta` table when the store is made (absent: 0) and read once per
connection.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from klogtui.store.ids import SLOT_BITS

__all__ = ["BY_BUCKET", "BY_ID", "META_KEY", "TextKeys", "of"]

META_KEY = "text_key_shift"


# A NamedTuple, not a dataclass: `dataclasses` imports `inspect`, ~4 ms of every
# `klogtui query` process.
class TextKeys(NamedTuple):
    """How a store's text index keys its rows: key = line id >> shift.

    Attributes:
        shift: 0 (stores before schema 8: key = id) or SLOT_BITS (key = 10 µs bucket).
            Any shift works the same; tests use larger ones to put many lines in a key.
    """

    shift: int

    @property
    def shared(self) -> bool:
        """Whether lines can share a key (their text then needs a check of its own)."""
        return self.shift > 0

    def key_of(self, column: str) -> str:
        """SQL: the key of the line id in `column`."""
        return f"({column} >> {self.shift})" if self.shift else column

    def lines_of_key(self, key: str, line: str = "l") -> str:
        """SQL: the line `line` (a `lines` alias) is one of key `key`'s (an FTS rowid)."""
        if not self.shift:
            return f"{line}.id = {key}"
        return (
            f"{line}.id BETWEEN ({key} << {self.shift}) "
            f"AND (({key} << {self.shift}) | {(1 << self.shift) - 1})"
        )

    def alone(self, line: str = "l") -> str:
        """SQL: no other line shares line `line`'s key, so a key hit is its own. A probe of
        the lines table's rowid B-tree: one seek into the key's id range."""
        if not self.shift:
            return "1"
        mask = (1 << self.shift) - 1
        return (
            f"NOT EXISTS (SELECT 1 FROM lines x WHERE x.id BETWEEN ({line}.id & ~{mask}) "
            f"AND ({line}.id | {mask}) AND x.id <> {line}.id)"
        )

    def key_above(self, after_id: int) -> int:
        """An exclusive lower bound on keys for the exclusive id bound `id > after_id`
        (conservative: the line ids themselves are bounded exactly besides)."""
        return ((after_id + 1) >> self.shift) - 1 if self.shift else after_id

    def key_below(self, before_id: int) -> int:
        """An exclusive upper bound on keys for the exclusive id bound `id < before_id`."""
        return ((before_id - 1) >> self.shift) + 1 if self.shift else before_id


BY_ID = TextKeys(0)
BY_BUCKET = TextKeys(SLOT_BITS)


def of(conn: sqlite3.Connection) -> TextKeys:
    """How the store on conn keys its text index (stores that do not say: by line id)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    return TextKeys(int(row[0])) if row is not None else BY_ID
