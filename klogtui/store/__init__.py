"""The SQLite FTS5 store: schema, the single writer, readers and the query compiled to SQL.

Names are imported on first use, so `klogtui query` (which only reads) does not pay
for the writer, retention and recovery modules at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from klogtui.store.aggregates import Bucket, StoreStats
    from klogtui.store.reader import Reader
    from klogtui.store.retention import Retention, parse_size
    from klogtui.store.schema import default_db_path
    from klogtui.store.store import Store
    from klogtui.store.writer import CommitInfo, WriteError, Writer

_HOMES = {
    "Bucket": "aggregates",
    "Reader": "reader",
    "StoreStats": "aggregates",
    "Retention": "retention",
    "parse_size": "retention",
    "default_db_path": "schema",
    "Store": "store",
    "CommitInfo": "writer",
    "WriteError": "writer",
    "Writer": "writer",
}

__all__ = [
    "Bucket",
    "CommitInfo",
    "Reader",
    "Retention",
    "Store",
    "StoreStats",
    "WriteError",
    "Writer",
    "default_db_path",
    "parse_size",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'klogtui.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"klogtui.store.{home}"), name)
