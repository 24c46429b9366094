"""The alert engine in-process: each commit's lines counted once, state taken up
across restarts, `for` and `absent` as Prometheus has them (no Alertmanager here)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from klogtui.alerts.engine import AlertEngine
from klogtui.alerts.rules import Rule, RuleSet, append_rule, load_rules
from klogtui.alerts.state import AlertState, advance
from klogtui.alerts.state_table import read_states
from klogtui.alerts.window import Window
from klogtui.model import Batch, Level, Record, SourceKey, Stream
from klogtui.store import Store
from klogtui.store.schema import connect
from tests.waiting import wait_for

S = 1_000_000_000
WEB = SourceKey("shop", "web-1", "app", 0, "uid-1")
DB = SourceKey("shop", "db-0", "postgres", 0, "uid-2")


def _rec(ts: int, text: str, source: SourceKey = WEB) -> Record:
    return Record(ts, source, Stream.STDOUT, text, Level.ERROR, 0)


def _states(db: Path) -> dict[str, AlertState]:
    conn = connect(db)
    try:
        return read_states(conn)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ("refused", 4),  # text alone: the FTS index only
        ("refused pod=db-0", 2),  # text and source
        ("level=error", 5),  # fields alone: counted over grouped lines
        ("pod=db-0 -other", 2),  # fields and an exclusion
    ],
)
@pytest.mark.parametrize("grouped", [False, True], ids=["alone", "grouped"])
def test_each_commits_lines_are_counted_once_whatever_their_timestamps(
    tmp_path: Path, query: str, matches: int, grouped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path / "store.db")
    # The last commit brings the last match: it fires then, with every match counted.
    rule = Rule("errors", query, 60 * S, "above", matches - 1)
    rules: tuple[Rule, ...] = (rule,)
    if grouped:
        # A second rule on the same text (or on none): their lines are grouped once.
        monkeypatch.setattr("klogtui.alerts.engine._GROUP_ALL_LINES_FROM", 2)
        rules = (rule, Rule("same", f"{query} stream=stdout", 60 * S, "above", 1000))
    errors: list[str] = []
    engine = AlertEngine(store.path, RuleSet(rules), lambda w, m: errors.append(m))
    writer = store.start_writer(on_commit=lambda _: engine.wake())
    engine.start()
    try:
        now = time.time_ns()
        batches = [
            Batch([_rec(now - 10 * S, "refused 1"), _rec(now - 2 * S, "refused 2")]),
            # Stamped around the first commit's second line: its id range holds that too.
            Batch([_rec(now - 6 * S, "refused 3", DB), _rec(now - S, "other", DB)]),
            Batch([_rec(now - S // 2, "refused 4", DB)]),
        ]
        for seq, batch in enumerate(batches, start=1):
            writer.submit(batch)
            writer.flush()
            # Each commit evaluated on its own, the way they come when lines trickle in.
            wait_for(lambda: engine.evaluated_seq >= seq, 10, f"commit {seq} evaluated")  # noqa: B023
        fired = wait_for(
            lambda: _states(store.path).get("errors", AlertState("")).phase == "firing",
            10,
            "the rule to fire",
        )
        assert fired
        state = _states(store.path)["errors"]
        assert state.annotations["summary"] == f"{matches} lines matched in the last 1m"
        assert state.labels == {
            "alertname": "errors",
            "severity": "warning",
            "namespace": "shop",
            "pod": "db-0",
        }
        assert state.annotations["sample"] == "refused 4"
        assert errors == []
    finally:
        writer.close()
        engine.stop()
    # A new engine (a restart) takes the firing alert up as it was.
    engine = AlertEngine(store.path, RuleSet((rule,)), lambda w, m: errors.append(m))
    engine.start()
    try:
        wait_for(lambda: engine.evaluations >= 2, 10, "two evaluations")
        assert _states(store.path)["errors"] == state
    finally:
        engine.stop()


def test_a_query_that_fails_to_compile_skips_its_rule_only(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    writer = store.start_writer()
    writer.submit(Batch([_rec(time.time_ns(), "x")]))
    writer.close()
    # A regex that backtracks past the query's matching budget on a long pod name.
    slow = Rule("slow", "pod=~(?:a+)+b", 60 * S, "above", 0)
    ok = Rule("ok", "x", 60 * S, "above", 0)
    errors: list[str] = []
    long_pod = SourceKey("shop", "a" * 5000 + "!", "app", 0, "uid-9")
    writer = store.start_writer()
    writer.submit(Batch([_rec(time.time_ns(), "y", long_pod)]))
    writer.close()
    engine = AlertEngine(store.path, RuleSet((slow, ok)), lambda w, m: errors.append(m))
    engine.start()
    try:
        wait_for(lambda: _states(store.path).get("ok"), 20, "the good rule to fire")
        assert "slow" not in _states(store.path)
        assert len(errors) == 1 and errors[0].startswith("alert 'slow': ")
        assert errors[0].endswith("; rule skipped")
    finally:
        engine.stop()


def _phase(s: AlertState) -> str:
    # Read through a function: mypy would keep s.phase narrowed by the asserts before.
    return s.phase


def test_pending_until_for_has_passed_then_firing_then_resolved() -> None:
    s = AlertState("r")
    assert advance(s, True, 10, 100) == "pending" and _phase(s) == "pending"
    assert advance(s, True, 10, 105) is None and _phase(s) == "pending"
    assert advance(s, True, 10, 110) == "fired" and (_phase(s), s.fired_at) == ("firing", 110)
    assert advance(s, None, 10, 120) is None and _phase(s) == "firing"  # cannot tell: kept
    assert advance(s, False, 10, 130) == "resolved"
    assert (_phase(s), s.resolved_at, s.resolve_sent) == ("inactive", 130, False)
    assert advance(s, True, 10, 140) == "pending"
    assert advance(s, False, 10, 145) == "cleared" and _phase(s) == "inactive"
    assert advance(s, True, 0, 150) == "fired" and s.fired_at == 150  # no `for`: at once


def test_a_window_keeps_a_match_for_the_whole_window_and_no_longer_than_a_second_more() -> None:
    w = Window(10 * S)
    now = 1_000 * S
    w.add((now - 11 * S) // S, 1, 1, now)  # older than the window: never counted
    w.add((now - 3 * S + S // 2) // S, 1, 2, now)
    w.add((now + 3600 * S) // S, 1, 3, now)  # a clock an hour ahead counts as now
    assert w.count(now) == 2 and w.newest_id == 3
    assert w.count(now + 7 * S) == 2  # 9.5 s after the first match
    assert w.count(now + 8 * S) == 1  # gone within a second after the window
    assert w.count(now + 11 * S) == 0


def test_a_rule_added_to_the_config_file_is_evaluated_at_once(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# no rules yet\n")
    store = Store.open(tmp_path / "store.db")
    errors: list[str] = []
    engine = AlertEngine(store.path, load_rules(config), lambda w, m: errors.append(m))
    writer = store.start_writer(on_commit=lambda _: engine.wake())
    engine.start()
    try:
        writer.submit(Batch([_rec(time.time_ns(), "disk full on /var")]))
        writer.flush()
        wait_for(lambda: engine.evaluations >= 2, 10, "the engine running")
        append_rule(config, Rule("disk", '"disk full"', 60 * S, "above", 0))
        # The line stored before the rule existed is in its window: it fires.
        wait_for(lambda: _states(store.path).get("disk"), 10, "the new rule to fire")
        assert _states(store.path)["disk"].phase == "firing"
        assert errors == []
    finally:
        writer.close()
        engine.stop()
