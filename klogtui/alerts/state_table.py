"""The store's `alerts` table: each rule's AlertState, read and written.

The engine writes it in its own short transactions (only this table: lines stay the
writer's); `klogtui alerts` and the TUI read it, so they show the state of whichever
process collects.
"""

from __future__ import annotations

import json
import sqlite3

from klogtui.alerts.state import AlertState

__all__ = ["delete_states", "read_states", "write_states"]

_COLUMNS = (
    "rule, state, active_since, fired_at, resolved_at, resolve_sent, query, line_id, "
    "labels, annotations"
)


def read_states(conn: sqlite3.Connection) -> dict[str, AlertState]:
    """Every rule's stored state, by rule name ({} on a store from before alerts)."""
    try:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM alerts").fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return {}
        raise
    return {
        r[0]: AlertState(
            rule=r[0],
            phase=r[1] if r[1] in ("inactive", "pending", "firing") else "inactive",
            active_since=r[2],
            fired_at=r[3],
            resolved_at=r[4],
            resolve_sent=bool(r[5]),
            query=r[6],
            line_id=r[7],
            labels=json.loads(r[8] or "{}"),
            annotations=json.loads(r[9] or "{}"),
        )
        for r in rows
    }


def write_states(conn: sqlite3.Connection, states: list[AlertState]) -> None:
    """Store these states, in one transaction."""
    if not states:
        return
    with _transaction(conn):
        conn.executemany(
            f"INSERT OR REPLACE INTO alerts({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    s.rule,
                    s.phase,
                    s.active_since,
                    s.fired_at,
                    s.resolved_at,
                    int(s.resolve_sent),
                    s.query,
                    s.line_id,
                    json.dumps(s.labels, sort_keys=True),
                    json.dumps(s.annotations, sort_keys=True),
                )
                for s in states
            ],
        )


def delete_states(conn: sqlite3.Connection, rules: list[str]) -> None:
    """Forget the states of rules that left the config file (once their resolve is sent)."""
    if rules:
        with _transaction(conn):
            conn.executemany("DELETE FROM alerts WHERE rule = ?", [(r,) for r in rules])


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._conn.execute("COMMIT" if kind is None else "ROLLBACK")
