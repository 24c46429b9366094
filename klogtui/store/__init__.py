"""The SQLite FTS5 store: schema, the single writer, readers and the query language."""

from klogtui.store.reader import Bucket, Reader, StoreStats
from klogtui.store.retention import Retention, parse_size
from klogtui.store.schema import default_db_path
from klogtui.store.store import Store
from klogtui.store.writer import CommitInfo, WriteError, Writer

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
