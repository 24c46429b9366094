"""Alerts in the app: the firing count in the status bar, the alerts screen (Enter
shows an alert's lines at the time it fired) and the rule form writing the config."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from klogtui.alerts.rules import load_rules
from klogtui.alerts.state import AlertState
from klogtui.alerts.state_table import write_states
from klogtui.config import config_path
from klogtui.store.schema import connect
from klogtui.ui.app import KlogApp
from klogtui.ui.screens.alert_rule import AlertRuleScreen
from klogtui.ui.screens.alerts import AlertsScreen
from tests.store_helpers import SEC, T0
from tests.ui_fixtures import FIXED_NOW, build_demo_store, settle, until

SIZE = (120, 36)
RULES = """
[[alert]]
name = "payments-refused"
query = '"connection refused"'
window = "5m"
above = 3
severity = "critical"

[[alert]]
name = "quiet"
query = "never-seen"
window = "1m"
above = 0
"""


def _config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_a_firing_alert_shows_in_the_status_bar_and_enter_shows_its_lines(
    tmp_path: Path,
) -> None:
    _config(RULES)
    store = build_demo_store(tmp_path / "demo.db")
    fired = T0 + 300 * SEC + SEC // 3
    conn = connect(store.path)
    write_states(
        conn,
        [AlertState("payments-refused", "firing", fired, fired, query='"connection refused"')],
    )
    conn.close()
    app = KlogApp(store, now_ns=FIXED_NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: "1 ALERT FIRING (a)" in app.status_bar.render().plain)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        assert [(r.name, r.phase) for r in screen.rows] == [
            ("payments-refused", "firing"),
            ("quiet", "inactive"),
        ]
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, AlertsScreen)
        assert app.query_bar.applied.typed == '"connection refused"'
        line = app.log_view.cursor_line
        assert line is not None and "connection refused" in line.message
        assert line.ts >= fired  # the first match at or after the time it fired
        assert not app.log_view.following  # held there, not pulled to the newest


async def test_the_rule_form_writes_a_rule_on_the_current_query(tmp_path: Path) -> None:
    path = _config(RULES)
    store = build_demo_store(tmp_path / "demo.db")
    app = KlogApp(store, now_ns=FIXED_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        app.query_one("#query-bar Input", Input).value = "level=error ns=shop"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AlertRuleScreen))
        form = app.screen
        assert isinstance(form, AlertRuleScreen)
        assert form.values()["query"] == "level=error ns=shop"
        # A name in use is refused, and nothing is written.
        form.query_one("#rule-name", Input).value = "quiet"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertRuleScreen)
        assert "there is a rule named 'quiet' already" in str(
            form.query_one("#rule-error").render()
        )
        form.query_one("#rule-name", Input).value = "shop-errors"
        form.query_one("#rule-condition", Input).value = "above 10"
        form.query_one("#rule-for", Input).value = "2m"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, AlertRuleScreen))
    rules = {r.name: r for r in load_rules(path).rules}
    assert list(rules) == ["payments-refused", "quiet", "shop-errors"]
    assert rules["shop-errors"].query == "level=error ns=shop"
    assert rules["shop-errors"].describe() == "> 10 in 5m for 2m"
