"""Alert rules in the config file: checked one by one, listed with their state."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from klogtui.alerts.rules import Rule, parse_rules, rule_as_toml
from klogtui.alerts.state import AlertState
from klogtui.alerts.state_table import read_states, write_states
from klogtui.config import load_defaults
from klogtui.store import Store
from klogtui.store.schema import SCHEMA_VERSION, connect

GOOD = """
alertmanager = "http://127.0.0.1:9093"

[[alert]]
name = "checkout-errors"
query = 'ns=shop level=error "payment failed"'
window = "5m"
above = 10
for = "1m"
severity = "critical"
labels = { team = "shop" }
annotations = { runbook = "https://runbooks/checkout" }

[[alert]]
name = "heartbeat"
query = "heartbeat"
window = "2m"
absent = true
"""


def _rules(text: str) -> tuple[list[Rule], list[str]]:
    rs = parse_rules(tomllib.loads(text))
    return list(rs.rules), [p.one_line() for p in rs.problems]


def test_a_good_file_gives_its_rules() -> None:
    rules, problems = _rules(GOOD)
    assert problems == []
    first, second = rules
    assert first == Rule(
        name="checkout-errors",
        query='ns=shop level=error "payment failed"',
        window_ns=300 * 10**9,
        condition="above",
        threshold=10,
        for_ns=60 * 10**9,
        severity="critical",
        labels=(("team", "shop"),),
        annotations=(("runbook", "https://runbooks/checkout"),),
    )
    assert first.describe() == "> 10 in 5m for 1m"
    assert second.condition == "absent" and second.describe() == "none in 2m"


def test_load_defaults_skips_the_rules_and_takes_the_alertmanager(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(GOOD)
    assert load_defaults(cfg) == {"alertmanager": "http://127.0.0.1:9093"}


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('query = "x"\nabove = 1', "alert #1: needs a name"),
        ('name = "a"\nabove = 1', "alert #1 'a': needs a query"),
        ('name = "a"\nquery = "x"', "needs exactly one condition"),
        ('name = "a"\nquery = "x"\nabove = 1\nabsent = true', "needs exactly one condition"),
        ('name = "a"\nquery = "x"\nabove = -1', "above must be a whole number"),
        ('name = "a"\nquery = "x"\nabsent = false', "absent must be true"),
        ('name = "a"\nquery = "x"\nabove = 1\nwindow = "soon"', "window: bad duration 'soon'"),
        ('name = "a"\nquery = "x"\nabove = 1\nfor = 5', "for must be a duration"),
        ('name = "a"\nquery = "x"\nabove = 1\nlabels = { "a-b" = "c" }', "label name 'a-b'"),
        ('name = "a"\nquery = "x"\nabove = 1\nlabels = { alertname = "c" }', "set by klogtui"),
        ('name = "a"\nquery = "x"\nabove = 1\ncolour = "red"', "unknown key 'colour'"),
        ('name = "a"\nquery = "x since:5m"\nabove = 1', "column 3: since: has no place"),
        ('name = "a"\nquery = "  "\nabove = 1', "empty query"),
    ],
)
def test_a_bad_rule_is_named_and_the_others_still_load(table: str, problem: str) -> None:
    text = f'[[alert]]\n{table}\n\n[[alert]]\nname = "ok"\nquery = "ok"\nabove = 0\n'
    rules, problems = _rules(text)
    assert [r.name for r in rules] == ["ok"]
    assert len(problems) == 1 and problem in problems[0], problems


def test_a_bad_query_points_at_its_column() -> None:
    rs = parse_rules(tomllib.loads('[[alert]]\nname = "a"\nquery = \'level=error "oops\'\nabove=1'))
    (problem,) = rs.problems
    assert problem.column == 12
    assert str(problem).splitlines() == [
        "alert #1 'a': bad query at column 13: unterminated quote",
        '  level=error "oops',
        "              ^",
    ]


def test_a_second_rule_of_the_same_name_is_refused() -> None:
    text = '[[alert]]\nname="a"\nquery="x"\nabove=1\n[[alert]]\nname="a"\nquery="y"\nabove=1\n'
    rules, problems = _rules(text)
    assert [r.query for r in rules] == ["x"]
    assert problems == ["alert #2 'a': a rule of this name comes earlier"]


def test_a_rule_written_back_reads_the_same() -> None:
    rules, _ = _rules(GOOD)
    tricky = Rule('say "hi"\\', 'msg="a\\"b" \u00e9 -x', 90 * 10**9, "above", 3)
    for rule in [*rules, tricky]:
        again, problems = _rules(rule_as_toml(rule))
        assert problems == [] and again == [rule]


def _klogtui(*args: str, config: Path, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config), "XDG_DATA_HOME": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "klogtui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _config(tmp_path: Path, text: str) -> Path:
    home = tmp_path / "config"
    (home / "klogtui").mkdir(parents=True)
    (home / "klogtui" / "config.toml").write_text(text)
    return home


def test_check_says_what_is_wrong_and_exits_2(tmp_path: Path) -> None:
    bad = GOOD + '\n[[alert]]\nname = "broken"\nquery = \'level=error "oops\'\nabove = 1\n'
    done = _klogtui("alerts", "--check", config=_config(tmp_path, bad), data=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].endswith(
        "config.toml: alert #3 'broken': bad query at column 13: unterminated quote"
    )
    assert "Traceback" not in done.stderr
    done = _klogtui("alerts", "--check", config=_config(tmp_path / "ok", GOOD), data=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 alert rules, all valid" in done.stdout


def test_listing_shows_each_rule_with_its_stored_state(tmp_path: Path, utc: None) -> None:
    db = tmp_path / "store.db"
    Store.open(db)
    conn = connect(db)
    fired = 1_796_000_000 * 10**9
    write_states(conn, [AlertState("heartbeat", "firing", fired, fired)])
    conn.close()
    done = _klogtui("alerts", "--db", str(db), config=_config(tmp_path, GOOD), data=tmp_path)
    assert done.returncode == 0, done.stderr
    head, first, second = done.stdout.splitlines()
    assert head.split() == ["NAME", "STATE", "CONDITION", "SEVERITY", "QUERY"]
    assert first.startswith("checkout-errors  inactive ")
    assert first.endswith('ns=shop level=error "payment failed"')
    assert second.startswith("heartbeat        firing since 2026-11-30 00:53:20 (")
    assert "none in 2m" in second


def test_a_version_2_store_is_upgraded_with_an_empty_alerts_table(tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    Store.open(db)
    conn = sqlite3.connect(db)  # what version 2 wrote: no alerts table
    conn.executescript(
        "DROP TABLE alerts; UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    )
    conn.close()
    conn = connect(db)
    assert read_states(conn) == {}
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),) == ("8",)
    write_states(conn, [AlertState("a", "pending", 5)])
    assert read_states(conn)["a"].phase == "pending"
    conn.close()
