"""`.field` queries reach every reader through the shared compile: `klogtui query`
(a process) and an alert rule counted by the alert engine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from klogtui.alerts.engine import AlertEngine
from klogtui.alerts.rules import Rule, RuleSet
from klogtui.alerts.state import AlertState
from klogtui.alerts.state_table import read_states
from klogtui.formats.fields import stored_fields
from klogtui.formats.levels import level_of
from klogtui.model import Batch, Record, Stream
from klogtui.store import Store
from klogtui.store.schema import connect
from tests.store_helpers import SEC, T0, key, write
from tests.waiting import wait_for

MESSAGES = [
    '{"level":"info","msg":"served","status":200,"path":"/cart"}',
    '{"level":"error","msg":"upstream failed","status":503,"path":"/pay"}',
    'level=warn msg="slow upstream" status=500 path=/pay',
    "GET /pay 500 (plain text: no fields)",
]


def _record(ts: int, message: str) -> Record:
    level, fields = stored_fields(message, level_of(message.encode(), message))
    return Record(ts, key(), Stream.STDOUT, message, level, 0, fields)


def _klogtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", *args], capture_output=True, text=True, timeout=60
    )


def test_query_prints_the_events_a_field_query_selects(store: Store) -> None:
    write(store, Batch([_record(T0 + i * SEC, m) for i, m in enumerate(MESSAGES)]))
    result = _klogtui("query", ".status>=500", ".path=/pay", "--db", str(store.path), "-o", "jsonl")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["message"] for e in events] == MESSAGES[1:3]
    assert events[1]["fields"] == {"status": "500", "path": "/pay"}


def test_a_bad_field_query_points_at_its_column(store: Store) -> None:
    write(store, Batch([_record(T0, MESSAGES[0])]))
    result = _klogtui("query", "ns=shop .status=>500", "--db", str(store.path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "unknown operator '=>'" in result.stderr
    assert result.stderr.splitlines()[2].index("^") == 2 + len("ns=shop .status")


def test_an_alert_rule_with_a_field_query_counts_its_events(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    rule = Rule("server-errors", ".status>=500", 60 * SEC, "above", 1)
    errors: list[str] = []
    engine = AlertEngine(store.path, RuleSet((rule,)), lambda w, m: errors.append(m))
    writer = store.start_writer(on_commit=lambda _: engine.wake())
    engine.start()
    try:
        now = time.time_ns()
        writer.submit(Batch([_record(now - 3 * SEC + i, m) for i, m in enumerate(MESSAGES)]))
        writer.flush()

        def state() -> AlertState | None:
            conn = connect(store.path)
            try:
                return read_states(conn).get("server-errors")
            finally:
                conn.close()

        fired = wait_for(lambda: (s := state()) is not None and s.phase == "firing" and s, 20, "")
        assert fired
        # 2 of the 4 lines: the plain "GET /pay 500" has no fields and is not counted.
        assert fired.annotations["summary"] == "2 lines matched in the last 1m"
        assert errors == []
    finally:
        writer.close()
        engine.stop()


def test_a_backtracking_field_regex_stops_with_a_message(store: Store) -> None:
    slow = '{"msg":"x","name":"' + "a" * 38 + '-x"}'
    write(store, Batch([_record(T0 + i * SEC, slow) for i in range(50)]))
    started = time.monotonic()
    result = _klogtui("query", "x .name=~(a|a)+$", "--db", str(store.path))
    assert time.monotonic() - started < 30  # not 50 values x seconds each
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "took longer than 0.1 s on one value" in result.stderr
    assert result.stderr.splitlines()[2].index("^") == 2 + len("x ")
