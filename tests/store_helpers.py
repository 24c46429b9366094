"""Building records for store tests, and checking the text index they leave."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from klogtui.formats.ansi import strip_ansi
from klogtui.model import Batch, Record, SourceKey, Stream
from klogtui.store import Store, text_codec, text_keys
from klogtui.store.text_terms import keeps_positions

T0 = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z, an arbitrary fixed instant
SEC = 1_000_000_000


def key(
    ns: str = "shop", pod: str = "web-1", container: str = "app", restart: int = 0
) -> SourceKey:
    return SourceKey(ns, pod, container, restart, pod_uid=f"uid-{pod}")


def rec(
    ts: int,
    message: str,
    source: SourceKey | None = None,
    stream: int = Stream.STDOUT,
    level: int = 0,
) -> Record:
    return Record(ts, source or key(), stream, message, level)


def newest_messages(store: Store, query: str, limit: int = 100) -> list[str]:
    """The messages of the newest `limit` lines matching `query`, oldest first."""
    reader = store.reader()
    try:
        return [ln.message for ln in reader.newest(query, limit)]
    finally:
        reader.close()


def write(store: Store, *batches: Batch) -> None:
    writer = store.start_writer()
    try:
        for b in batches:
            writer.submit(b)
        assert writer.flush(10)
    finally:
        writer.close()


def assert_index_exact(db: Path) -> None:
    """The text index is sound and holds exactly each line's text without escapes
    (term by term, line counts and occurrences), as retention will delete it: under
    each line's text key (text_keys.py), a key's lines' text joined."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO lines_fts(lines_fts, rank) VALUES ('integrity-check', 0)")
        conn.create_function("strip_ansi", 1, strip_ansi, deterministic=True)
        text_codec.register(conn)  # compressed lines: the text the writer indexed
        detail = "full" if keeps_positions(conn) else "none"  # as the store's index
        conn.execute(f"CREATE VIRTUAL TABLE temp.want USING fts5(message, detail={detail})")
        key = text_keys.of(conn).key_of("id")
        conn.execute(
            f"INSERT INTO want(rowid, message) SELECT {key}, "
            "group_concat(strip_ansi(klogtui_text(message)), char(10)) FROM lines GROUP BY 1"
        )
        conn.execute("CREATE VIRTUAL TABLE temp.have_terms USING fts5vocab(main, lines_fts, row)")
        conn.execute("CREATE VIRTUAL TABLE temp.want_terms USING fts5vocab(temp, want, row)")
        have = conn.execute("SELECT term, doc, cnt FROM have_terms ORDER BY term").fetchall()
        want = conn.execute("SELECT term, doc, cnt FROM want_terms ORDER BY term").fetchall()
        assert have == want
        assert have  # not two empty indexes
    finally:
        conn.close()
