"""Recovering from a damaged store: move it aside and copy out every line still readable.

A torn or corrupted file must not cost the user their history: lines are read from
both ends of the id range until the damage stops the scan, and written into a fresh
store. Checkpoints are carried over only when every line was read; otherwise the
collectors re-read what the log files still hold (duplicates are possible then, loss
is not).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from klogtui.model import Batch, Record, SourceInfo, SourceKey
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


def move_aside(path: Path) -> Path:
    """Rename the store (and its WAL/SHM) to <name>.broken-<time>; returns the new path."""
    target = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in _SUFFIXES:
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(target) + suffix))
    return target


def recover(path: Path) -> Salvage:
    """Move the damaged store at `path` aside and rebuild a store there from it."""
    broken = move_aside(path)
    store = Store.open(path)
    try:
        src = sqlite3.connect(f"file:{broken}?mode=ro", uri=True)
    except sqlite3.Error:
        return Salvage(broken, 0, 0, False)
    try:
        return _copy(src, store, broken)
    finally:
        src.close()


def _copy(src: sqlite3.Connection, store: Store, broken: Path) -> Salvage:
    complete = True
    keys: dict[int, SourceKey] = {}
    infos: list[SourceInfo] = []
    try:
        for row in src.execute(
            "SELECT id, namespace, pod, container, restart, pod_uid, container_id, node, "
            "state, reason, labels FROM sources"
        ):
            key = SourceKey(row[1], row[2], row[3], row[4], row[5])
            keys[row[0]] = key
            infos.append(
                SourceInfo(
                    key,
                    container_id=row[6],
                    node=row[7],
                    state=row[8],
                    reason=row[9],
                    labels=json.loads(row[10] or "{}"),
                )
            )
    except (sqlite3.Error, ValueError):
        complete = False
    writer = store.start_writer()
    copied = 0
    try:
        writer.submit(Batch(sources=infos))
        oldest_read, ok = _scan(src, keys, writer, ascending=True)
        copied += oldest_read[0]
        if not ok:
            complete = False
            newest_read, _ = _scan(src, keys, writer, ascending=False, stop_at=oldest_read[1])
            copied += newest_read[0]
        if complete:
            try:
                checkpoints = dict(src.execute("SELECT key, value FROM checkpoints"))
                writer.submit(Batch(checkpoints=checkpoints))
            except sqlite3.Error:
                complete = False
        writer.flush()
    finally:
        writer.close()
    return Salvage(broken, copied, len(infos), complete)


def _scan(
    src: sqlite3.Connection,
    keys: dict[int, SourceKey],
    writer: Writer,
    ascending: bool,
    stop_at: int = -1,
) -> tuple[tuple[int, int], bool]:
    """Copy lines in id order from one end until the end or the damage.

    Returns ((lines copied, last id read), reached the other end without error).
    """
    op, order = (">", "ASC") if ascending else ("<", "DESC")
    cursor = -1 if ascending else (1 << 63) - 1
    copied = 0
    submit = writer.submit
    while True:
        try:
            rows = src.execute(
                f"SELECT id, ts, source_id, stream, level, flags, message FROM lines "
                f"WHERE id {op} ? ORDER BY id {order} LIMIT ?",
                (cursor, _PAGE),
            ).fetchall()
        except sqlite3.Error:
            return (copied, cursor), False
        if not ascending:
            rows = [r for r in rows if r[0] > stop_at]
        if not rows:
            return (copied, cursor), True
        submit(
            Batch(
                [
                    Record(
                        ts,
                        keys.get(sid) or SourceKey("unknown", f"source-{sid}", "unknown"),
                        stream,
                        message,
                        level,
                        flags,
                    )
                    for _, ts, sid, stream, level, flags, message in rows
                ]
            )
        )
        copied += len(rows)
        cursor = rows[-1][0]
