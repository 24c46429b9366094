"""The alerts as a person sees them: each configured rule with its stored state.

For the TUI's alerts screen and status bar; reads the store's `alerts` table through
a read-only connection of its own, so it shows the state whoever collects.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from klogtui.alerts.rules import Rule, RuleProblem, RuleSet, load_rules
from klogtui.alerts.state import AlertState, Phase
from klogtui.alerts.state_table import read_states
from klogtui.config import config_path
from klogtui.errors import KlogError, StoreError
from klogtui.store.schema import connect

__all__ = ["AlertRow", "alert_rows", "configured_rules"]


@dataclass(frozen=True)
class AlertRow:
    """One rule and its state.

    Attributes:
        name: the rule's name.
        phase: inactive, pending or firing.
        since_ns: when it started firing (firing) or pending (pending); 0 otherwise.
        fired_at: when it last fired (0: never): the time Enter shows.
        condition: the rule's condition in words.
        query: the rule's query.
    """

    name: str
    phase: Phase
    since_ns: int
    fired_at: int
    condition: str
    query: str


def configured_rules() -> RuleSet:
    """The config file's rules; a file that cannot be read is one problem, not an error."""
    path = config_path()
    try:
        return load_rules(path)
    except KlogError as e:
        return RuleSet(problems=(RuleProblem(0, None, str(e)),), path=path)


def alert_rows(db: Path, ruleset: RuleSet) -> list[AlertRow]:
    """Firing first (newest first), then pending, then the rest by name."""
    states = _states(db)
    rows = [_row(rule, states.get(rule.name)) for rule in ruleset.rules]
    order = {"firing": 0, "pending": 1, "inactive": 2}
    return sorted(rows, key=lambda r: (order[r.phase], -r.since_ns, r.name))


def _row(rule: Rule, state: AlertState | None) -> AlertRow:
    if state is None:
        return AlertRow(rule.name, "inactive", 0, 0, rule.describe(), rule.query)
    since = {"firing": state.fired_at, "pending": state.active_since}.get(state.phase, 0)
    query = state.query if state.phase == "firing" and state.query else rule.query
    return AlertRow(rule.name, state.phase, since, state.fired_at, rule.describe(), query)


def _states(db: Path) -> dict[str, AlertState]:
    try:
        conn = connect(db, create=False, readonly=True)
    except StoreError:
        return {}  # no store yet, or one to be upgraded by its collector first
    try:
        return read_states(conn)
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
