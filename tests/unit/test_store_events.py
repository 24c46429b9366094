"""The store side of events: schema 4 (`lines.fields`, an index without terminal
escapes); stores made by the code before it (schema 2, and schema 3 with alert states)
migrated with every line kept."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

from klogtui.alerts.state import AlertState
from klogtui.alerts.state_table import read_states, write_states
from klogtui.store import Store
from klogtui.store.retention import Retention
from klogtui.store.schema import SCHEMA_VERSION, connect
from tests.store_helpers import assert_index_exact

# Written by the store writer of commit 7b9d77c (schema 2): 2000 lines from 3 sources,
# one in 4 coloured ("\x1b[31mERROR\x1b[0m build failed n=…"), one in 4 a JSON object.
V2_STORE = Path(__file__).parent.parent / "corpus" / "store_v2.db.gz"

# What schema 3 (alerts, issue 15) added to a schema 2 store.
_ALERTS_V3 = """
CREATE TABLE alerts(
    rule TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    active_since INTEGER NOT NULL DEFAULT 0,
    fired_at INTEGER NOT NULL DEFAULT 0,
    resolved_at INTEGER NOT NULL DEFAULT 0,
    resolve_sent INTEGER NOT NULL DEFAULT 1,
    query TEXT NOT NULL DEFAULT '',
    line_id INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    annotations TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
UPDATE meta SET value = '3' WHERE key = 'schema_version';
"""


def _v2_store(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    with gzip.open(V2_STORE, "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def _version(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
    finally:
        conn.close()


def test_a_schema_2_store_is_migrated_with_every_line(tmp_path: Path) -> None:
    db = _v2_store(tmp_path)
    assert _version(db) == "2"
    store = Store.open(db)  # 2 -> 3 (alerts) -> 4 (events)
    reader = store.reader()
    try:
        lines = reader.oldest("", 10**6)
        coloured = reader.newest("ERROR", 10**6)
        build = reader.newest("build failed", 10**6)
    finally:
        reader.close()
    assert len(lines) == 2000
    assert {ln.fields for ln in lines} == {None}  # older lines have no fields
    assert len(build) == 500
    # Indexed again without escapes: the coloured ERROR is found by ERROR.
    assert {ln.id for ln in coloured} == {ln.id for ln in build}
    assert all(ln.message.startswith("\x1b[31mERROR\x1b[0m") for ln in coloured)  # as written
    assert _version(db) == str(SCHEMA_VERSION) == "8"
    conn = sqlite3.connect(db)
    assert read_states(conn) == {}  # the alerts table is there, empty
    conn.close()
    assert_index_exact(db)


def test_a_schema_3_store_keeps_its_lines_and_alert_states(tmp_path: Path) -> None:
    db = _v2_store(tmp_path)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(_ALERTS_V3)  # the schema 3 store klogtui with alerts made of it
    firing = AlertState("checkout-errors", "firing", 10, 20, query="ERROR", labels={"a": "b"})
    write_states(conn, [firing])
    conn.close()
    assert _version(db) == "3"
    store = Store.open(db)
    reader = store.reader()
    try:
        lines = reader.oldest("", 10**6)
        coloured = reader.newest("ERROR", 10**6)
    finally:
        reader.close()
    assert _version(db) == "8"
    assert len(lines) == 2000 and len(coloured) == 500
    assert {ln.fields for ln in lines} == {None}
    conn = sqlite3.connect(db)
    assert read_states(conn) == {"checkout-errors": firing}
    conn.close()
    assert_index_exact(db)


def test_retention_after_the_migration_leaves_the_index_exact(tmp_path: Path) -> None:
    db = _v2_store(tmp_path)
    Store.open(db)  # migrates
    conn = connect(db)
    conn.execute("BEGIN")
    below = conn.execute("SELECT id FROM lines ORDER BY id LIMIT 1 OFFSET 1000").fetchone()[0]
    while Retention(batch=300).delete_batch(conn, below)[0]:
        pass
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM lines").fetchone() == (1000,)
    conn.close()
    assert_index_exact(db)
