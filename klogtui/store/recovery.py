"""Recovering from a damaged store: move it aside and copy out every line still readable.

A torn or corrupted file must not cost the user their history. First SQLite reads the
old store in id order; if that reaches every line and the checkpoints, the copy is
complete. Otherwise (SQLite stops at the first damaged page, or cannot open a file
whose header is garbled) the copy is rebuilt from every intact page, read directly
(pages.py). Checkpoints are carried over only when every line was read; otherwise the
collectors re-read what the log files still hold (duplicates are possible then, loss
is not).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from klogtui.errors import StoreError
from klogtui.model import Batch, Flag, Level, Record, SourceInfo, SourceKey, Stream
from klogtui.store import text_codec
from klogtui.store.pages import read_rows
from klogtui.store.store import Store
from klogtui.store.writer import Writer

__all__ = ["Salvage", "move_aside", "recover"]

_PAGE = 5_000
_SUFFIXES = ("", "-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Salvage:
    """What a recovery did: where the damaged file went and what was copied out."""

    moved_to: Path
    lines: int
    sources: int
    complete: bool  # every line and the checkpoints were read
    damaged_rows: int = 0  # rows found in the pages that could not be read


def move_aside(path: Path) -> Path:
    """Rename the store (and its WAL/SHM) to <name>.broken-<time>; returns the new path."""
    target = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in _SUFFIXES:
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(target) + suffix))
    return target


def recover(path: Path) -> Salvage:
    """Move the damaged store at `path` aside and rebuild a store there from it.

    Only for a klogtui store (pages.is_klogtui_file): the file is renamed.
    """
    broken = move_aside(path)
    if _copy_with_sqlite(broken, Store.open(path)):
        return Salvage(broken, *_counts(path), complete=True)
    # SQLite stopped at the damage: start over from every intact page.
    for suffix in _SUFFIXES:
        Path(str(path) + suffix).unlink(missing_ok=True)
    return _copy_pages(broken, Store.open(path))


def _counts(path: Path) -> tuple[int, int]:
    reader = Store(path).reader()
    try:
        stats = reader.stats()
    finally:
        reader.close()
    return stats.lines, stats.sources


def _copy_with_sqlite(broken: Path, store: Store) -> bool:
    """Copy everything through SQLite; False (and a partial copy) if damage got in the way."""
    try:
        src = sqlite3.connect(f"file:{broken}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    text_codec.register(src)  # compressed lines are copied as their text
    writer = store.start_writer()
    try:
        keys: dict[int, SourceKey] = {}
        infos: list[SourceInfo] = []
        # A store from before schema 5 has no workload columns.
        have = {r[1] for r in src.execute("PRAGMA table_info(sources)")}
        workload = "workload_kind, workload" if "workload" in have else "NULL, NULL"
        for row in src.execute(
            "SELECT id, namespace, pod, container, restart, pod_uid, container_id, node, "
            f"state, reason, labels, {workload} FROM sources"
        ):
            keys[row[0]] = SourceKey(row[1], row[2], row[3], row[4], row[5])
            infos.append(
                SourceInfo(
                    keys[row[0]],
                    container_id=row[6],
                    node=row[7],
                    state=row[8],
                    reason=row[9],
                    labels=json.loads(row[10] or "{}"),
                    workload_kind=row[11],
                    workload=row[12],
                )
            )
        writer.submit(Batch(sources=infos))
        if not _scan(src, keys, writer):
            return False
        writer.submit(Batch(checkpoints=dict(src.execute("SELECT key, value FROM checkpoints"))))
        return writer.flush()
    except (sqlite3.Error, ValueError, TypeError):
        return False
    finally:
        writer.close()
        src.close()


def _scan(src: sqlite3.Connection, keys: dict[int, SourceKey], writer: Writer) -> bool:
    """Copy the lines in id order; False at the first damage (an error or a bad value)."""
    cursor = -1
    # A store from before schema 4 has no fields column.
    columns = {r[1] for r in src.execute("PRAGMA table_info(lines)")}
    fields = text_codec.message_sql("fields") if "fields" in columns else "NULL"
    while True:
        rows = src.execute(
            "SELECT id, ts, source_id, stream, level, flags, "
            f"{text_codec.message_sql('message')}, {fields} FROM lines "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (cursor, _PAGE),
        ).fetchall()
        if not rows:
            return True
        if not all(_sane(r) for r in rows):
            return False
        writer.submit(
            Batch(
                [
                    Record(ts, _key(keys, sid), stream, message, level, flags, fields)
                    for _, ts, sid, stream, level, flags, message, fields in rows
                ]
            )
        )
        cursor = rows[-1][0]


def _copy_pages(broken: Path, store: Store) -> Salvage:
    """Copy the lines and sources found in the intact pages of the file at broken."""
    rows = read_rows(broken)
    keys: dict[int, SourceKey] = {}
    infos: list[SourceInfo] = []
    for sid, r in rows.sources.items():
        keys[sid] = SourceKey(r.namespace, r.pod, r.container, r.restart, r.pod_uid)
        try:
            labels = json.loads(r.labels or "{}")
        except ValueError:
            labels = {}
        infos.append(
            SourceInfo(
                keys[sid],
                container_id=r.container_id,
                node=r.node,
                state=r.state,
                reason=r.reason,
                labels=labels if isinstance(labels, dict) else {},
                workload_kind=r.workload_kind,
                workload=r.workload,
            )
        )
    lines = sorted(rows.lines.values(), key=lambda ln: ln.id)
    writer = store.start_writer()
    try:
        writer.submit(Batch(sources=infos))
        for i in range(0, len(lines), _PAGE):
            writer.submit(
                Batch(
                    [
                        Record(
                            ln.ts,
                            _key(keys, ln.source_id),
                            ln.stream,
                            ln.message,
                            ln.level,
                            ln.flags,
                            ln.fields,
                        )
                        for ln in lines[i : i + _PAGE]
                    ]
                )
            )
        if not writer.flush():
            raise StoreError(f"{store.path}: the recovered lines could not be written")
    finally:
        writer.close()
    return Salvage(broken, len(lines), len(infos), False, rows.bad_cells)


def _key(keys: dict[int, SourceKey], source_id: int) -> SourceKey:
    """The line's source; a made-up one when its row was lost with the damage."""
    return keys.get(source_id) or SourceKey("unknown", f"source-{source_id}", "unknown")


def _sane(row: tuple[object, ...]) -> bool:
    """A row SQLite read whose values have the types and ranges of a stored line."""
    _, ts, sid, stream, level, flags, message, fields = row
    return (
        (fields is None or isinstance(fields, str))
        and isinstance(ts, int)
        and isinstance(sid, int)
        and isinstance(message, str)
        and stream in tuple(Stream)
        and level in tuple(Level)
        and isinstance(flags, int)
        and 0 <= flags < max(Flag) << 1  # any combination of the flags
    )
