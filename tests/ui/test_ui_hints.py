"""Hints under the query bar in the whole app: a filter that finds nothing says what was
probably meant, and `H` applies the fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot

from klogtui.ui.app import KlogApp
from klogtui.ui.widgets.query_bar import QueryInput
from tests.ui_fixtures import FIXED_NOW, build_demo_store, settle, text_of, until


@asynccontextmanager
async def demo_app(
    tmp_path: Path, size: tuple[int, int], query: str = ""
) -> AsyncIterator[tuple[KlogApp, Pilot[int]]]:
    store = build_demo_store(tmp_path / "demo.db")
    app = KlogApp(store, now_ns=FIXED_NOW, query=query, history_path=None, save_dir=tmp_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        yield app, pilot


def hint(app: KlogApp) -> str:
    """The hint lines as shown ("" when the hint line is hidden)."""
    widget = app.query_bar.query_one("#query-hint")
    if not widget.display or widget.size.height == 0:
        return ""
    return " ".join(text_of(widget).split())


def pods_shown(app: KlogApp) -> set[str]:
    """The pod of each row on screen (the pod/container column)."""
    return {row.split()[1].split("/")[0] for row in app.log_view.rendered_rows() if row.strip()}


async def apply(pilot: Pilot[int], text: str) -> None:
    await pilot.press("slash", "ctrl+u", *text, "enter")
    await settle(pilot)


async def test_a_prefix_pod_shows_the_hint_and_h_applies_the_fix(tmp_path: Path) -> None:
    async with demo_app(tmp_path, (160, 45)) as (app, pilot):
        await apply(pilot, "pod=checkout")
        await until(pilot, lambda: hint(app) != "")
        assert hint(app) == (
            "hint: no pod `checkout`; 1 pod starts with it: pod=checkout-* (H applies the fix)"
        )
        # The query ran as typed: nothing matches it.
        assert "No lines match this query." in " ".join(app.log_view.rendered_rows())
        assert app.query_bar.value == "pod=checkout"
        await pilot.press("H")
        await settle(pilot)
        assert app.query_bar.value == "pod=checkout-*"
        assert hint(app) == ""
        await until(pilot, lambda: pods_shown(app) != set())
        assert pods_shown(app) == {"checkout-7d9f8"}


async def test_an_unknown_key_hint_at_80_columns_and_its_fix(tmp_path: Path) -> None:
    async with demo_app(tmp_path, (80, 24)) as (app, pilot):
        await apply(pilot, "namepsace=payments")
        await until(pilot, lambda: hint(app) != "")
        assert hint(app) == (
            "hint: no label `namepsace`; did you mean namespace? (H applies the fix)"
        )
        await pilot.press("H")
        await settle(pilot)
        assert app.query_bar.value == "namespace=payments"
        await until(pilot, lambda: pods_shown(app) != set())
        assert pods_shown(app) == {"api-6f7d"}


async def test_a_correct_query_has_no_hint_and_h_changes_nothing(tmp_path: Path) -> None:
    async with demo_app(tmp_path, (160, 45)) as (app, pilot):
        await apply(pilot, "pod=Checkout-7d9f8")
        await until(pilot, lambda: "another case" in hint(app))
        for good in ("pod=checkout-7d9f8", "app=checkout level=error", "timeout"):
            await apply(pilot, good)
            assert hint(app) == "", good
            await pilot.press("H")
            await settle(pilot)
            assert app.query_bar.value == good
        # In the query field H is a letter like any other.
        await pilot.press("slash", "ctrl+u", "H")
        assert isinstance(app.focused, QueryInput)
        assert app.query_bar.value == "H"


async def test_a_starting_query_gets_its_hint_once_the_sources_are_read(tmp_path: Path) -> None:
    # The query is applied before the first look at the store brings the sources.
    async with demo_app(tmp_path, (160, 45), query="node=node") as (app, pilot):
        await until(pilot, lambda: hint(app) != "")
        assert hint(app) == (
            "hint: no node `node`; 2 nodes start with it: node=node-* (H applies the fix)"
        )
