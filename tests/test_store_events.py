"""The store side of events: schema 3 (`lines.fields`, an index without terminal escapes),
a store made by the code before it migrated with every line kept, and what
`klogtui query -o jsonl` says of an event (`lines`, `fields`)."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from klogtui.formats.ansi import strip_ansi
from klogtui.formats.fields import IN_MESSAGE, stored_fields
from klogtui.model import Batch, Level, Record, SourceKey
from klogtui.store import Store
from klogtui.store.retention import Retention
from klogtui.store.schema import SCHEMA_VERSION
from tests.corpus import SHAPES

# Written by the store writer of commit 7b9d77c (schema 2): 2000 lines from 3 sources,
# one in 4 coloured ("\x1b[31mERROR\x1b[0m build failed n=…"), one in 4 a JSON object.
V2_STORE = Path(__file__).parent / "corpus" / "store_v2.db.gz"
T0 = 1_795_514_400_000_000_000


def _v2_store(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    with gzip.open(V2_STORE, "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def _fts_intact(db: Path) -> None:
    """The text index is sound and holds exactly each line's text without escapes
    (term by term, line counts and occurrences), as retention will delete it."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO lines_fts(lines_fts, rank) VALUES ('integrity-check', 0)")
        conn.create_function("strip_ansi", 1, strip_ansi, deterministic=True)
        conn.execute("CREATE VIRTUAL TABLE temp.want USING fts5(message)")
        conn.execute("INSERT INTO want(rowid, message) SELECT id, strip_ansi(message) FROM lines")
        conn.execute("CREATE VIRTUAL TABLE temp.have_terms USING fts5vocab(main, lines_fts, row)")
        conn.execute("CREATE VIRTUAL TABLE temp.want_terms USING fts5vocab(temp, want, row)")
        have = conn.execute("SELECT term, doc, cnt FROM have_terms ORDER BY term").fetchall()
        want = conn.execute("SELECT term, doc, cnt FROM want_terms ORDER BY term").fetchall()
        assert have == want
        assert have  # not two empty indexes
    finally:
        conn.close()


def test_a_schema_2_store_is_migrated_with_every_line(tmp_path: Path) -> None:
    db = _v2_store(tmp_path)
    before = sqlite3.connect(db)
    assert before.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    before.close()
    store = Store.open(db)
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
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    conn.close()
    _fts_intact(db)


def test_retention_after_the_migration_leaves_the_index_exact(tmp_path: Path) -> None:
    db = _v2_store(tmp_path)
    Store.open(db)  # migrates
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    below = conn.execute("SELECT id FROM lines ORDER BY id LIMIT 1 OFFSET 1000").fetchone()[0]
    while Retention(batch=300).delete_batch(conn, below)[0]:
        pass
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM lines").fetchone() == (1000,)
    conn.close()
    _fts_intact(db)


def _write(db: Path, records: list[Record]) -> None:
    store = Store.open(db)
    writer = store.start_writer()
    try:
        writer.submit(Batch(records))
        assert writer.flush(30)
    finally:
        writer.close()


def _jsonl(db: Path, *query: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", *query, "--db", str(db), "-o", "jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_jsonl_gives_an_event_as_written_with_its_line_count_and_fields(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    key = SourceKey("shop", "web", "app", 0, "uid")
    trace = SHAPES["spring"][1]
    zap = SHAPES["zap_logrus"][1]
    coloured = "\x1b[31mERROR\x1b[0m Failed to resolve"
    _, fields = stored_fields(zap.message, 0)
    assert fields == IN_MESSAGE  # read back from the message
    logfmt = SHAPES["logfmt"][1]
    logfmt_level, logfmt_fields = stored_fields(logfmt.message, 0)
    _write(
        db,
        [
            Record(T0, key, 1, trace.message, Level.ERROR, 0),
            Record(T0 + 1, key, 2, zap.message, Level.ERROR, 0, fields),
            Record(T0 + 2, key, 1, coloured, Level.ERROR, 0),
            Record(T0 + 3, key, 1, logfmt.message, logfmt_level, 0, logfmt_fields),
        ],
    )
    got = _jsonl(db)
    assert [o["message"] for o in got] == [trace.message, zap.message, coloured, logfmt.message]
    assert [o.get("lines") for o in got] == [len(trace.lines), None, None, None]
    assert [o.get("fields") for o in got] == [None, zap.fields, None, logfmt.fields]
    assert [o["level"] for o in got] == ["error", "error", "error", "error"]
    assert [o["message"] for o in _jsonl(db, "ERROR")] == [o["message"] for o in got]
    assert [o["message"] for o in _jsonl(db, "SQLException")] == [trace.message]
    _fts_intact(db)
