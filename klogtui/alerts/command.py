"""`klogtui alerts`: the rules with their state, and `--check` of the rules."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from klogtui.alerts.alertmanager import check_url
from klogtui.alerts.rules import RuleSet, load_rules
from klogtui.alerts.state import AlertState
from klogtui.alerts.state_table import read_states
from klogtui.config import config_path
from klogtui.errors import StoreError
from klogtui.store.schema import connect

__all__ = ["describe_state", "run_alerts"]

_NS = 1_000_000_000


def run_alerts(args: argparse.Namespace) -> int:
    """List or check the rules; 2 when a rule is wrong, 0 otherwise.

    Raises:
        KlogError: the config file cannot be read (printed by the CLI).
    """
    path = config_path()
    ruleset = load_rules(path)
    problems = [str(p) for p in ruleset.problems]
    if ruleset.alertmanager and (wrong := check_url(ruleset.alertmanager)):
        problems.append(wrong)
    for problem in problems:
        print(f"klogtui: {path}: {problem}", file=sys.stderr)
    code = 2 if problems else 0
    if args.check:
        if not problems:
            print(f"{path}: {len(ruleset.rules)} alert rules, all valid")
        return code
    if not ruleset.rules:
        if not problems:
            print(f"no alert rules in {path} (add [[alert]] tables; see the README)")
        return code
    _print_table(ruleset, _stored_states(args.db), time.time_ns())
    return code


def _stored_states(db: Path | None) -> dict[str, AlertState]:
    """The states the collector keeps ({} when there is no store yet)."""
    if db is None:
        from klogtui.store.schema import latest_store

        try:
            db = latest_store()
        except StoreError:
            return {}
    try:
        conn = connect(db, create=False, readonly=True)
    except StoreError as e:
        print(f"klogtui: {e}; showing the rules without their state", file=sys.stderr)
        return {}
    try:
        return read_states(conn)
    except sqlite3.Error as e:
        print(f"klogtui: {db}: cannot read alert state: {e}", file=sys.stderr)
        return {}
    finally:
        conn.close()


def describe_state(state: AlertState | None, now_ns: int) -> str:
    """`inactive`, `pending since 12:00:01`, `firing since 2026-12-01 12:00:01 (3m)`."""
    if state is None or state.phase == "inactive":
        return "inactive"
    since = state.fired_at if state.phase == "firing" else state.active_since
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since / _NS))
    return f"{state.phase} since {stamp} ({_ago(now_ns - since)})"


def _ago(ns: int) -> str:
    s = max(0, ns // _NS)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d"


def _print_table(ruleset: RuleSet, states: dict[str, AlertState], now_ns: int) -> None:
    rows = [("NAME", "STATE", "CONDITION", "SEVERITY", "QUERY")]
    for rule in ruleset.rules:
        rows.append(
            (
                rule.name,
                describe_state(states.get(rule.name), now_ns),
                rule.describe(),
                rule.severity,
                rule.query,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        head = "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True))
        print(f"{head}  {r[4]}")
