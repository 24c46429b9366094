"""The whole app on fixture stores: every key and flow, asserted on what the user sees."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from rich.text import Text
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input, RadioButton

from klogtui.collect.runner import CollectOptions, start_collection
from klogtui.export import SAVE_LIMIT
from klogtui.store import Reader, Store
from klogtui.ui.app import KlogApp
from klogtui.ui.line_text import BADGE_WIDTH
from klogtui.ui.screens.context import ContextScreen
from klogtui.ui.screens.detail import DetailScreen
from klogtui.ui.screens.error_log import ErrorLogScreen
from klogtui.ui.screens.facets import FacetScreen
from klogtui.ui.screens.help import HELP_KEYS, HelpScreen
from klogtui.ui.screens.save import SaveScreen
from klogtui.ui.screens.time_jump import TimeJumpScreen
from klogtui.ui.widgets.log_view import LogView
from klogtui.ui.widgets.query_bar import QueryInput
from klogtui.ui.widgets.sources_tree import SourcesTree
from tests.store_helpers import SEC, T0
from tests.ui_fixtures import ESCAPE_SHOWN, FIXED_NOW, MARKUP_LINE, build_demo_store, settle, until

SIZE = (140, 36)


@asynccontextmanager
async def demo_app(
    tmp_path: Path, size: tuple[int, int] = SIZE, **kwargs: object
) -> AsyncIterator[tuple[KlogApp, Pilot[int]]]:
    """The app on a fresh demo store, running at `size`, its first load done."""
    store = build_demo_store(tmp_path / "demo.db")
    app = KlogApp(store, now_ns=FIXED_NOW, save_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        yield app, pilot


def messages(app: KlogApp) -> list[str]:
    """Each row's message (after the time, the padded pod/container column and the
    level badge)."""
    view = app.log_view
    width = 14 + view._source_width + 1 + BADGE_WIDTH + 1
    return [row[width:].rstrip() for row in view.rendered_rows() if row.strip()]


def tags(app: KlogApp) -> set[str]:
    return {row.split()[1] for row in app.log_view.rendered_rows() if row.strip()}


def status(app: KlogApp) -> str:
    return app.status_bar.render().plain


async def type_query(pilot: object, app: KlogApp, text: str) -> None:
    await pilot.press("slash")  # type: ignore[attr-defined]
    field = app.query_one(QueryInput)
    field.value = text
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]


async def test_startup_shows_the_newest_lines_tree_and_status(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        assert messages(app)[-2:] == [
            MARKUP_LINE,
            ESCAPE_SHOWN,
        ]
        assert isinstance(app.focused, LogView)
        assert app.query_bar.value == ""
        assert status(app).startswith(" FOLLOW   422 lines · 7 sources · ")
        assert status(app).endswith("· no collector")
        tree = app.sources_tree
        labels = [str(node.label) for node in tree.root.children]
        assert labels == ["kube-system 60", "payments 61", "shop 301"]
        shop = tree.root.children[2]
        pods = [str(node.label) for node in shop.children]
        assert pods == ["○ cart-5b6c 120 ↻1", "○ checkout-7d9f8 121", "✕ old-batch-1 60"]


async def test_query_bar_applies_a_search_with_highlights(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("slash")
        assert isinstance(app.focused, QueryInput)
        await pilot.press(*"refused", "enter")
        await settle(pilot)
        shown = messages(app)
        assert shown and all("connection refused" in m for m in shown)
        assert app.query_bar.applied.typed == "refused"
        assert isinstance(app.focused, LogView), "Enter goes back to the log"
        strip = app.log_view.render_line(0)
        hit = [seg for seg in strip if seg.text == "refused"]
        assert hit and hit[0].style is not None and hit[0].style.bold


def burst(app: KlogApp, text: str) -> None:
    """Hand the app every key of `text` at once ("\r" is Enter), as a terminal does on a
    paste, for a fast typist or over a laggy link: no key waits for the one before."""
    control = {"\r": "enter", "\x1b": "escape", "\x15": "ctrl+u", "\x7f": "backspace"}
    for char in text:
        key = control.get(char) or (char if char.isalnum() else _character_to_key(char))
        event = events.Key(key, None if char in control and char not in "\r\x1b" else char)
        event.set_sender(app)
        app.post_message(event)


async def test_keys_typed_right_after_slash_reach_the_query_bar(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        burst(app, "/quota")  # q alone quits, t opens the time jump
        await until(pilot, lambda: app.query_bar.value == "quota")
        await settle(pilot)
        assert app.is_running and len(app.screen_stack) == 1
        assert isinstance(app.focused, QueryInput)
        await pilot.press("escape")
        # e alone opens the error log, l scrolls, = and space do nothing; then Enter.
        burst(app, "/level=fatal OR refused\r")
        await until(pilot, lambda: app.query_bar.applied.typed == "level=fatal OR refused")
        await settle(pilot)
        assert len(app.screen_stack) == 1
        assert isinstance(app.focused, LogView)
        shown = messages(app)
        assert shown and all("connection refused" in m for m in shown)
        # In the field, `/` is text.
        burst(app, "/ /api/cart")
        await until(pilot, lambda: app.query_bar.value.endswith(" /api/cart"))
        assert app.query_bar.value == "level=fatal OR refused /api/cart"
        # Editing keys in the burst happen where they were typed: ctrl+u clears what is
        # before it, backspace takes the key before it.
        burst(app, "\x15refused\x7f\x7f\x7f\x7fxes\r")
        await until(pilot, lambda: app.query_bar.applied.typed == "refxes")


async def test_keys_typed_right_after_enter_or_esc_in_the_query_bar_reach_the_log(
    tmp_path: Path,
) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        oldest = app.store.reader().oldest("pod=cart-*", 1)[0]
        # Enter applies the query, then w wraps and g goes to the oldest line OF THAT QUERY.
        burst(app, "/pod=cart-*\rwg")
        await until(pilot, lambda: app.log_view.window[:1] == [oldest])
        await settle(pilot)
        assert app.query_bar.applied.typed == "pod=cart-*"
        assert app.log_view.wrap and not app.log_view.following
        assert isinstance(app.focused, LogView)
        view = app.log_view
        assert {view.source_of(line).pod for line in view.window} == {"cart-5b6c"}  # type: ignore[union-attr]
        # Esc gives the edit up; the keys behind it act on the log: w unwraps, G follows.
        burst(app, "/xyz\x1bwG")
        await until(pilot, lambda: not app.log_view.wrap and app.log_view.following)
        assert app.query_bar.value == "pod=cart-*"
        assert isinstance(app.focused, LogView)
        # A query that does not parse keeps the field: the keys behind Enter are text.
        burst(app, "/ level=bogus\rw")
        await until(pilot, lambda: app.query_bar.value == "pod=cart-* level=bogusw")
        assert isinstance(app.focused, QueryInput) and not app.log_view.wrap
        # A second query in the same burst: each Enter hands the keys on in order.
        burst(app, "\x15refused\r/\x15timeout\rg")
        await until(pilot, lambda: app.query_bar.applied.typed == "timeout")
        await settle(pilot)
        first = app.store.reader().oldest("timeout", 1)[0]
        await until(pilot, lambda: app.log_view.window[:1] == [first])


@pytest.mark.parametrize(
    ("keys", "dialog", "typed"),
    [
        ("tq", TimeJumpScreen, "q"),
        ("sq", SaveScreen, "q"),
        ("fq", None, None),
        ("?q", None, None),
        ("eq", None, None),
        ("t\x1b", None, None),
        ("f\x1b", None, None),
        ("?\x1b", None, None),
    ],
)
async def test_keys_typed_right_after_a_dialog_key_reach_the_dialog(
    tmp_path: Path, keys: str, dialog: type | None, typed: str | None
) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        burst(app, keys)  # q closes the facets, help and errors; in a text field it is text
        await settle(pilot)
        assert app.is_running
        if dialog is None:
            assert len(app.screen_stack) == 1
            assert isinstance(app.focused, LogView)
        else:
            assert isinstance(app.screen, dialog)
            await until(pilot, lambda: app.screen.query_one(Input).value == typed)


@pytest.mark.parametrize("keys", ["t", "s", "f", "?", "e", "\r", "c"])
async def test_quitting_while_a_dialog_opens_is_clean(tmp_path: Path, keys: str) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        burst(app, keys)
        app.post_message(events.Key("ctrl+q", None))
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


def histogram_total(app: KlogApp) -> int:
    """The lines the histogram's bars stand for."""
    return sum(b.total for b in app.histogram._buckets)


def dimmed_namespaces(app: KlogApp) -> set[str]:
    out = set()
    for node in app.sources_tree.root.children:
        label = node.label
        assert isinstance(label, Text)
        if any(s.style == "dim" and s.start == 0 and s.end == len(label) for s in label.spans):
            out.add(label.plain.split()[0])
    return out


async def test_a_good_query_reaches_log_histogram_and_tree_together(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        everything = Reader(app.store.path).count("")[0]
        await until(pilot, lambda: histogram_total(app) == everything)
        assert dimmed_namespaces(app) == set()
        payments = Reader(app.store.path).count("namespace=payments")[0]
        await type_query(pilot, app, "ns=payments")
        await until(pilot, lambda: histogram_total(app) == payments)
        assert {app.log_view.source_of(ln).namespace for ln in app.log_view.window} == {  # type: ignore[union-attr]
            "payments"
        }
        assert dimmed_namespaces(app) == {"kube-system", "shop"}


async def test_a_bad_query_shows_its_column_and_the_panes_keep_the_last_good_one(
    tmp_path: Path,
) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        payments = Reader(app.store.path).count("namespace=payments")[0]
        await type_query(pilot, app, "ns=payments")
        await until(pilot, lambda: histogram_total(app) == payments)
        before = messages(app)
        await pilot.press("slash", "ctrl+u", *"ns=shop (timeout", "enter")
        await settle(pilot)
        error = str(app.query_bar.query_one("#query-error").render())
        # The caret stands under the "(" (the prompt "/ " is two cells wide).
        assert error == " " * (2 + len("ns=shop ")) + "^ unclosed '('"
        assert isinstance(app.focused, QueryInput)
        assert app.query_bar.applied.typed == "ns=payments"
        # The log pane gave a row to the error and still shows payments lines; the
        # histogram and the tree still show the payments query.
        assert messages(app) == before[1:]
        assert histogram_total(app) == payments
        assert dimmed_namespaces(app) == {"kube-system", "shop"}


async def test_a_bad_starting_query_is_shown_in_the_bar_and_everything_listed(
    tmp_path: Path,
) -> None:
    async with demo_app(tmp_path, query="level=bogus") as (app, pilot):
        error = str(app.query_bar.query_one("#query-error").render())
        assert error.startswith(" " * (2 + len("level=")) + "^ unknown level 'bogus'")
        assert app.query_bar.value == "level=bogus"
        assert isinstance(app.focused, QueryInput)
        everything = Reader(app.store.path).count("")[0]
        await until(pilot, lambda: histogram_total(app) == everything)
        assert messages(app)  # the log pane shows the empty query's lines


async def test_a_bad_query_is_shown_inline_and_esc_restores(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        before = messages(app)
        await pilot.press("slash", *"level=bogus", "enter")
        await settle(pilot)
        error = str(app.query_bar.query_one("#query-error").render())
        assert (
            error == "        ^ unknown level 'bogus' (one of: none, trace, debug, info, "
            "warn, error, fatal)"
        )
        assert isinstance(app.focused, QueryInput)
        # The error takes a row from the log, which still shows the applied query.
        assert messages(app) == before[1:]
        await pilot.press("escape")
        assert app.query_bar.value == ""
        assert not app.query_bar.has_class("-error")
        assert isinstance(app.focused, LogView)


async def test_history_walks_with_up_down_and_persists(tmp_path: Path) -> None:
    history = tmp_path / "data" / "history"
    async with demo_app(tmp_path, history_path=history) as (app, pilot):
        await type_query(pilot, app, "refused")
        await type_query(pilot, app, "timeout")
        await pilot.press("slash", "ctrl+u", *"dra")
        await pilot.press("up")
        assert app.query_bar.value == "timeout"
        await pilot.press("up")
        assert app.query_bar.value == "refused"
        await pilot.press("up")
        assert app.query_bar.value == "refused"
        await pilot.press("down", "down")
        assert app.query_bar.value == "dra"
    assert history.read_text() == "refused\ntimeout\n"
    again = KlogApp(Store.open(tmp_path / "demo.db"), now_ns=FIXED_NOW, history_path=history)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "up")
        assert again.query_bar.value == "timeout"


async def test_default_history_file_is_in_the_data_dir(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await type_query(pilot, app, "timeout")
    path = Path(os.environ["XDG_DATA_HOME"]) / "klogtui" / "query_history"
    assert path.read_text() == "timeout\n"


async def test_tree_selection_sets_the_query(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await type_query(pilot, app, "level=error")
        tree = app.sources_tree
        tree.focus()
        tree.move_cursor(tree.root.children[1])  # payments
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_bar.value == "level=error namespace=payments"
        assert tags(app) == {"api-6f7d/api"}

        shop = tree.root.children[2]
        shop_cart = shop.children[0]
        shop_cart.expand()
        await pilot.pause()
        tree.move_cursor(shop_cart.children[0])  # the app container of cart-5b6c
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_bar.value == "level=error namespace=shop pod=cart-5b6c container=app"
        view = app.log_view
        assert {view.source_of(line).pod for line in view.window} == {"cart-5b6c"}  # type: ignore[union-attr]
        # The tree dims what the query leaves out.
        kube_system, cart = tree.root.children[0].label, shop_cart.label
        assert isinstance(kube_system, Text) and isinstance(cart, Text)
        assert any(s.style == "dim" and s.end == len(kube_system) for s in kube_system.spans)
        assert not any(s.style == "dim" and s.end == len(cart) for s in cart.spans)

        tree.move_cursor(tree.root)
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_bar.value == "level=error"


async def test_facet_picker_edits_the_query(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await type_query(pilot, app, "timeout")
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, FacetScreen)
        await pilot.press("enter")  # the namespace field
        await settle(pilot)
        await pilot.press("enter")  # its most frequent value
        await settle(pilot)
        assert not isinstance(app.screen, FacetScreen)
        assert app.query_bar.value == "namespace=shop timeout"
        assert all("timeout" in m for m in messages(app))
        assert {t.split("/")[0] for t in tags(app)} <= {
            "cart-5b6c",
            "checkout-7d9f8",
            "old-batch-1",
        }


async def test_enter_opens_detail_and_c_there_opens_context(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("k")  # the markup line
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.line.message == MARKUP_LINE
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ContextScreen)
        screen = app.screen
        assert screen.focus_id == app.log_view.cursor_line.id
        sources = {ln.source_id for ln in screen.lines}
        assert sources == {app.log_view.cursor_line.source_id}
        assert 1 < len(screen.lines) <= 201
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, (ContextScreen, DetailScreen))


async def test_c_opens_context_directly(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ContextScreen)
        assert app.screen.lines[-1].message.startswith("colour ")


async def test_t_jumps_to_a_time(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TimeJumpScreen)
        app.screen.query_one(Input).value = "11:08:00"  # UTC, like the time column
        await pilot.press("enter")
        await settle(pilot)
        line = app.log_view.cursor_line
        assert line is not None and line.ts == T0 + 80 * SEC
        assert not app.log_view.following
        assert " PAUSED " in status(app)


@pytest.mark.parametrize(
    ("asked", "told", "shown_ts"),
    [
        ("10:30", "no lines before 10:30Z; showing the oldest at 11:06Z", T0),
        ("11:14:30", "no lines after 11:14:30Z; showing the newest at 11:13:40Z", None),
    ],
)
async def test_a_jump_past_the_data_says_where_it_landed(
    tmp_path: Path, asked: str, told: str, shown_ts: int | None
) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        newest = app.log_view.cursor_line
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one(Input).value = asked
        await pilot.press("enter")
        await settle(pilot)
        line = app.log_view.cursor_line
        assert line is not None and newest is not None
        assert line.ts == (newest.ts if shown_ts is None else shown_ts)
        assert told in [n.message for n in app._notifications]


async def test_a_jump_inside_the_data_says_nothing(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one(Input).value = "11:08"
        await pilot.press("enter")
        await settle(pilot)
        assert not app._notifications


async def test_s_saves_the_result_as_jsonl_and_text(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await type_query(pilot, app, "refused")
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SaveScreen)
        target = tmp_path / "out.jsonl"
        app.screen.query_one("#save-path", Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        rows = [json.loads(ln) for ln in target.read_text().splitlines()]
        assert len(rows) == 60
        assert all("connection refused" in r["message"] for r in rows)
        assert rows[0]["ts"] == "2026-11-18T11:06:41.000000000Z"
        assert {"ts", "namespace", "pod", "container", "stream", "message"} <= rows[0].keys()
        assert any(f"Saved 60 lines to {target}" in n.message for n in app._notifications)

        await pilot.press("s")
        await pilot.pause()
        text_target = tmp_path / "out.log"
        app.screen.query_one("#fmt-text", RadioButton).value = True
        await pilot.pause()
        app.screen.query_one("#save-path", Input).value = str(text_target)
        await pilot.press("enter")
        await settle(pilot)
        lines = text_target.read_text().splitlines()
        assert len(lines) == 60
        assert lines[0] == (
            "2026-11-18T11:06:41.000000000Z kube-system/coredns-abc12/coredns "
            "ERROR payment declined: connection refused (attempt 1)"
        )
    assert SAVE_LIMIT == 100_000


async def test_saved_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    # Exported logs carry the same secrets as the store: 0600, new or overwritten.
    fresh, existing = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    existing.write_text("old\n")
    existing.chmod(0o644)
    previous = os.umask(0)
    try:
        async with demo_app(tmp_path) as (app, pilot):
            for target in (fresh, existing):
                await pilot.press("s")
                await pilot.pause()
                app.screen.query_one("#save-path", Input).value = str(target)
                await pilot.press("enter")
                if target.exists() and isinstance(app.screen, SaveScreen):
                    await pilot.press("enter")  # confirm the overwrite
                deadline = time.monotonic() + 30
                while not any(f"to {target}" in n.message for n in app._notifications):
                    assert time.monotonic() < deadline, "never saved"
                    await pilot.pause(0.05)
    finally:
        os.umask(previous)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in (fresh, existing)} == {
        "new.jsonl": 0o600,
        "old.jsonl": 0o600,
    }
    assert len(existing.read_text().splitlines()) == 422


async def test_help_lists_every_binding(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.bindings == HELP_KEYS
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
    shown = " ".join(keys for keys, _ in HELP_KEYS).split()
    names = {
        "slash": "/",
        "question_mark": "?",
        "escape": "Esc",
        "space": "space",
        "enter": "Enter",
        "pageup": "PgUp",
        "pagedown": "PgDn",
        "home": "Home",
        "end": "End",
        "up": "↑",
        "down": "↓",
        "left": "←",
        "right": "→",
    }
    for cls in (KlogApp, LogView, QueryInput, SourcesTree):
        for binding in cls.BINDINGS:
            for key in binding.key.split(","):
                assert names.get(key, key) in shown, f"{cls.__name__}: {key} not in help"


async def test_q_quits(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_keys_of_the_main_screen_wait_while_a_dialog_is_open(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("f", "s", "t")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert len(app.screen_stack) == 2


async def test_the_layout_follows_each_resize_at_once(tmp_path: Path) -> None:
    # Narrow terminals get a narrow tree, so the log keeps most of the width.
    async with demo_app(tmp_path, size=(160, 45)) as (app, pilot):
        tree, log = app.sources_tree, app.log_view
        assert (tree.outer_size.width, log.outer_size.width) == (34, 126)
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: app.size.width == 80 and log.outer_size.width == 60)
        assert tree.outer_size.width == 20
        await pilot.resize_terminal(160, 45)
        await until(pilot, lambda: app.size.width == 160 and log.outer_size.width == 126)
        assert tree.outer_size.width == 34


async def test_b_hides_and_shows_the_tree(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        await pilot.press("b")
        assert not app.sources_tree.display
        await pilot.press("b")
        assert app.sources_tree.display


async def test_histogram_moves_the_log_in_time(tmp_path: Path) -> None:
    async with demo_app(tmp_path) as (app, pilot):
        app.histogram.focus()
        await pilot.press("home")
        await settle(pilot)
        line = app.log_view.cursor_line
        assert line is not None and line.ts == T0
        assert not app.log_view.following


async def test_collector_lines_and_errors_reach_the_screen(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    pod_dir = logs / "pods" / "shop_web-1_uid1" / "app"
    pod_dir.mkdir(parents=True)
    log = pod_dir / "0.log"
    log.write_text("2026-11-18T11:06:40.000000000Z stdout F first line\n")
    (logs / "containers").mkdir()
    (logs / "containers" / "web-1_shop_app-0123abcd.log").symlink_to(tmp_path / "nowhere")
    store = Store.open(tmp_path / "live.db")
    app = KlogApp(store, now_ns=FIXED_NOW)
    app.collection = start_collection(
        CollectOptions(log_dir=logs, db=store.path), store, on_commit=app.committed
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(50):
                await settle(pilot)
                if "first line" in " ".join(messages(app)):
                    break
                await pilot.pause(0.1)
            assert messages(app)[-1] == "first line"
            with log.open("a") as f:
                f.write("2026-11-18T11:06:41.000000000Z stderr F second line\n")
            for _ in range(50):
                await pilot.pause(0.1)
                await settle(pilot)
                if messages(app)[-1] == "second line" and "error" in status(app):
                    break
            assert messages(app)[-2:] == ["first line", "second line"]
            assert "1 collector error (e)" in status(app)
            assert " lines/s" in status(app)
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, ErrorLogScreen)
            assert any("web-1_shop_app-0123abcd.log" in e.where for e in app.screen.errors)
    finally:
        app.collection.stop()


def _damage_an_index_page(db: Path) -> None:
    """Break the lines_source index's root page: the lines still read by id, but
    SQLite's integrity check finds the damage."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name='lines_source'"
    ).fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\x00")  # no such page type


async def test_explorer_over_a_damaged_store_shows_it_and_never_writes_into_it(
    tmp_path: Path,
) -> None:
    # The explorer opens its store without waiting for the integrity check (a second on
    # a big store): the writer runs it before its first write.
    db = tmp_path / "demo.db"
    build_demo_store(db)
    _damage_an_index_page(db)
    damaged = db.read_bytes()
    pod_dir = tmp_path / "logs" / "pods" / "shop_web-1_uid1" / "app"
    pod_dir.mkdir(parents=True)
    (pod_dir / "0.log").write_text("2026-11-18T11:06:40.000000000Z stdout F never stored\n")
    store = Store.open(db, check=False)
    app = KlogApp(store, now_ns=FIXED_NOW)
    app.collection = start_collection(
        CollectOptions(log_dir=tmp_path / "logs", db=db), store, on_commit=app.committed
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            # The writer stops (then the file collector whose lines it refuses: one or
            # two errors, depending on when the status line looks).
            await until(pilot, lambda: "collector error" in status(app), timeout=30)
            await settle(pilot)
            assert messages(app)[-1] == ESCAPE_SHOWN
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, ErrorLogScreen)
            assert any(f"{db}: is damaged" in e.message for e in app.screen.errors)
    finally:
        app.collection.stop()
    assert db.read_bytes() == damaged
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.parametrize("first", ["log load", "store status"])
async def test_a_failing_read_is_reported_once_and_the_app_goes_on(
    tmp_path: Path, first: str
) -> None:
    # Several reads meet the damage (the log load, the histogram, each status tick) in
    # an order that depends on timing: the user is told once, whichever came first.
    async with demo_app(tmp_path) as (app, pilot):
        with open(tmp_path / "demo.db", "r+b") as f:
            f.truncate(0)  # the store is damaged under the running app
        if first == "store status":
            app._tick()
            await settle(pilot)
        await type_query(pilot, app, "refused")

        def shown() -> list[str]:
            return [n.message for n in app._notifications if n.severity == "error"]

        # The reads run on workers: on a loaded machine the first may still be on its way.
        await until(pilot, lambda: bool(shown()), timeout=30)
        for _ in range(2):  # status ticks fail the same way, and say nothing new
            app._tick()
            await settle(pilot)
        errors = shown()
        assert len(errors) == 1, errors
        read, _, error = errors[0].partition(": ")
        assert read in ("log load", "histogram", "store status")
        assert error.startswith(f"{tmp_path / 'demo.db'}: is damaged")
        assert not app.log_view.is_loading
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
