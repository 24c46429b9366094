"""The app's alert keys and indicator: `a` lists the alerts (Enter runs one's query at
the time it fired), `A` makes a rule of the current query, and the status bar counts
the firing ones. Store and config reads run in thread workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from klogtui.alerts.overview import AlertRow, alert_rows, configured_rules
from klogtui.alerts.rules import Rule
from klogtui.config import config_path
from klogtui.ui.screens.alert_rule import AlertRuleScreen
from klogtui.ui.screens.alerts import AlertsScreen

if TYPE_CHECKING:
    from klogtui.ui.app import KlogApp

__all__ = ["count_firing", "new_rule", "show_alerts"]


def count_firing(app: KlogApp) -> None:
    """Tell the status bar how many alerts fire (once a tick)."""
    path = app.store.path

    def work() -> None:
        rows = alert_rows(path, configured_rules())
        firing = sum(r.phase == "firing" for r in rows)
        app.call_from_thread(app.status_bar.update_alerts, firing)

    app.run_worker(
        work, name="alerts", group="alerts", exclusive=True, thread=True, exit_on_error=False
    )


def show_alerts(app: KlogApp) -> None:
    """The alerts screen; Enter on an alert that fired shows its lines at that time."""
    path = app.store.path

    def done(row: AlertRow | None) -> None:
        if row is None:
            return
        if not row.fired_at:
            app.notify(f"{row.name} has not fired yet")
            return
        app.show_query_at(row.query, row.fired_at)

    def show(rows: list[AlertRow], problems: list[str]) -> None:
        if len(app.screen_stack) == 1:  # not over a dialog opened meanwhile
            app.open_dialog(AlertsScreen(rows, problems, app.now_ns()), done)

    def work() -> None:
        ruleset = configured_rules()
        rows = alert_rows(path, ruleset)
        app.call_from_thread(show, rows, [p.one_line() for p in ruleset.problems])

    app.run_worker(work, name="alerts screen", group="alerts-screen", thread=True)


def new_rule(app: KlogApp, query: str) -> None:
    """The rule form on `query`; the rule goes to the config file."""

    def done(rule: Rule | None) -> None:
        if rule is not None:
            app.notify(
                f"alert rule {rule.name!r} written to {config_path()}; a running collector "
                "takes it up within a second"
            )

    app.open_dialog(AlertRuleScreen(query, config_path()), done)
