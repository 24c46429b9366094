"""Line formatting, the query bar's history and completion, the tree and the status line."""

from __future__ import annotations

import stat
from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from klogtui.collect.base import CollectorStats
from klogtui.model import Flag, Level, LogLine, Source, SourceKey, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.store.aggregates import StoreStats
from klogtui.ui.line_text import (
    ESCAPE_STYLE,
    HIGHLIGHT_STYLE,
    fit_tag,
    format_line,
    format_time,
    highlight_pattern,
    source_style,
)
from klogtui.ui.widgets.query_bar import FieldSuggester, QueryHistory
from klogtui.ui.widgets.sources_tree import Selection, SourcesTree, human_count
from klogtui.ui.widgets.status_bar import StatusBar, human_bytes
from tests.store_helpers import SEC, T0
from tests.ui_fixtures import FIXED_NOW, build_demo_store

SRC = Source(
    3,
    SourceKey("shop", "web-1", "app", 0, "u1"),
    "cid",
    "node-a",
    {"app": "web"},
    "running",
    "",
    T0,
    T0,
    10,
)


def line(message: str, level: int = 0, flags: int = 0, ts: int = T0) -> LogLine:
    return LogLine(1, ts, 3, Stream.STDOUT, level, flags, message)


ANSI_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


def styles_at(text: Text, start: int, end: int) -> set[str]:
    return {str(s.style) for s in text.spans if s.start <= start and s.end >= end}


# -- line text ------------------------------------------------------------------------


def test_markup_in_a_message_stays_text() -> None:
    text = format_line(line("[bold red]x[/] [link=http://e]y[/link]"), SRC, now_ns=T0)
    assert text.plain == "11:06:40.000Z web-1/app     [bold red]x[/] [link=http://e]y[/link]"
    assert all(str(s.style) in ("dim", source_style(3)) for s in text.spans)


def test_control_characters_are_shown_as_escapes() -> None:
    text = format_line(
        line("a\x1b[2Jb\rc\x07d\te\x9bf"), SRC, show_time=False, show_source=False, show_level=False
    )
    assert text.plain == "a\\x1b[2Jb\\x0dc\\x07d     e\\x9bf"  # tab to column 24
    start = text.plain.index("\\x1b")
    assert ESCAPE_STYLE in styles_at(text, start, start + 4)


def colours_at(text: Text, start: int, end: int) -> set[str]:
    """The colours (by name) of the styles over [start, end): "yellow", "red", ..."""
    styles = [Style.parse(s) for s in styles_at(text, start, end)]
    return {
        s.color.name if s.color.number is None else ANSI_NAMES[s.color.number]
        for s in styles
        if s.color
    }


def test_levels_colour_the_message() -> None:
    def message_colours(level: Level) -> set[str]:
        return colours_at(format_line(line("m", level), None, show_time=False), 7, 8)

    assert "yellow" in message_colours(Level.WARN)
    assert "red" in message_colours(Level.ERROR)
    info = format_line(line("i", Level.INFO), None, show_time=False, show_source=False)
    assert info.plain == "INF i"
    assert styles_at(info, 4, 5) == set()


def test_highlight_matches_terms_like_the_store_does() -> None:
    pattern = highlight_pattern(("connection refused", "timeo", "::"))
    assert pattern is not None
    msg = "Connection, refused; TIMEOUT x::y retimeout"
    assert [m.group() for m in pattern.finditer(msg)] == ["Connection, refused", "TIMEO", "::"]
    text = format_line(
        line(msg),
        SRC,
        show_time=False,
        show_source=False,
        show_level=False,
        highlight=("connection refused",),
    )
    assert styles_at(text, 0, 19) >= {HIGHLIGHT_STYLE}
    assert highlight_pattern(()) is None


def test_time_column_shows_the_date_only_for_other_days() -> None:
    assert format_time(T0 + 1_500_000, now_ns=T0) == "11:06:40.001Z"
    assert format_time(T0 - 86_400 * SEC, now_ns=T0) == "11-17 11:06:40.000Z"


def test_source_tag_fits_its_column() -> None:
    assert fit_tag("checkout-7d9f8/app", 14) == "checkout-…/app"
    assert fit_tag("checkout-7d9f8/istio-proxy", 14) == "checkout-7d9f…"
    assert fit_tag("web/app", 14) == "web/app"
    restarted = Source(4, SourceKey("shop", "web-1", "app", 2, "u1"), "", "", {}, "", "", 0, 0, 0)
    text = format_line(line("m"), restarted, show_time=False, show_level=False, source_width=12)
    assert text.plain == "web-1/app#2  m"
    assert format_line(line("m"), None, show_time=False, show_level=False).plain == "#3 m"


def test_truncated_lines_say_so() -> None:
    text = format_line(line("abc", flags=Flag.TRUNCATED), None, show_time=False, show_source=False)
    assert text.plain == "    abc ⟨truncated⟩"  # no level: a blank badge


# -- query bar ------------------------------------------------------------------------


def test_history_moves_repeats_to_the_end_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "history"
    history = QueryHistory(path, limit=3)
    for q in ("a", "b", "a", "  ", "c", "d"):
        history.add(q)
    assert history.entries == ["a", "c", "d"]
    assert path.read_text() == "a\nc\nd\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert QueryHistory(path).entries == ["a", "c", "d"]
    assert QueryHistory(tmp_path / "missing").entries == []
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    broken = QueryHistory(tmp_path / "binary")
    assert broken.entries == [] and broken.load_error is not None
    assert broken.load_error.startswith(f"cannot read the query history {tmp_path / 'binary'}")


async def test_suggester_completes_keys_and_known_values() -> None:
    s = FieldSuggester()
    s.set_values("namespace", ["shop", "payments", "shop"])
    s.set_values("pod", ["checkout-7d9f8", "cart-5b6c"])
    assert await s.get_suggestion("na") == "namespace="
    assert await s.get_suggestion("timeout ns=sh") == "timeout ns=shop"
    assert await s.get_suggestion("-pod=ch") == "-pod=checkout-7d9f8"
    assert await s.get_suggestion("pod!=ca") == "pod!=cart-5b6c"
    assert await s.get_suggestion("level=er") == "level=error"
    assert await s.get_suggestion("stream=std") == "stream=stdout"
    assert await s.get_suggestion("x ") is None
    assert await s.get_suggestion("namespace=shop") is None


# -- sources tree ---------------------------------------------------------------------


def dimmed(label: object) -> bool:
    assert isinstance(label, Text)
    return any(s.style == "dim" and s.start == 0 and s.end == len(label) for s in label.spans)


class TreeHost(App[None]):
    def compose(self) -> ComposeResult:
        yield SourcesTree(now_ns=FIXED_NOW)


async def test_tree_groups_sources_with_counts_and_state(tmp_path: Path) -> None:
    store = build_demo_store(tmp_path / "s.db")
    sources = store.reader().sources()
    app = TreeHost()
    async with app.run_test() as pilot:
        tree = app.query_one(SourcesTree)
        tree.update_sources(sources)
        await pilot.pause()
        shop = tree.root.children[2]
        cart = shop.children[0]
        assert str(cart.label) == "○ cart-5b6c 120 ↻1"
        assert [str(c.label) for c in cart.children] == ["○ app 120 ↻1"]
        assert str(shop.children[2].label) == "✕ old-batch-1 60"
        # Only the nodes the query selects stay bright.
        tree.set_predicate(lambda s: s.namespace == "payments")
        await pilot.pause()
        assert dimmed(shop.label)
        assert not dimmed(tree.root.children[1].label)
        # A new source is added in order, counts update in place.
        newer = Source(
            99, SourceKey("aaa", "p", "c"), "", "", {}, "running", "", FIXED_NOW, FIXED_NOW, 5
        )
        tree.update_sources([*sources, newer])
        await pilot.pause()
        assert str(tree.root.children[0].label) == "aaa 5"
        assert str(tree.root.children[0].children[0].label) == "● p 5"
        assert str(tree.root.label) == "all sources 427"


def _pod(i: int, ns: str, pod: str, restart: int, lines: int) -> Source:
    key = SourceKey(ns, pod, "app", restart)
    return Source(i, key, "", "", {}, "running", "", FIXED_NOW, FIXED_NOW, lines)


async def test_long_names_give_way_to_counts_and_restarts() -> None:
    app = TreeHost()
    async with app.run_test(size=(34, 12)) as pilot:
        tree = app.query_one(SourcesTree)
        tree.update_sources(
            [
                _pod(1, "shop", "payment-8c7b6a5d4-m9n8b", 4, 251),
                _pod(2, "shop", "web-1", 0, 12),
                _pod(3, "observability-and-monitoring", "prometheus-0", 0, 2_100),
            ]
        )
        await pilot.pause()
        rows = [tree.render_line(y).text.rstrip() for y in range(tree.size.height)]
        assert rows[1:6] == [
            "├ ▼ observability-and-monito… 2.1k",
            "│ └ ▶ ● prometheus-0 2.1k",
            "└ ▼ shop 263",
            "  ├ ▶ ● payment-8c7b6a5d4-… 251 ↻4",
            "  └ ▶ ● web-1 12",
        ]
        assert tree.virtual_size.width <= tree.scrollable_content_region.width  # no sideways


async def test_right_and_left_open_and_close_nodes() -> None:
    app = TreeHost()
    async with app.run_test(size=(40, 12)) as pilot:
        tree = app.query_one(SourcesTree)
        tree.update_sources([_pod(1, "shop", "web-1", 0, 12), _pod(2, "shop", "web-2", 1, 5)])
        tree.focus()
        await pilot.pause()
        web1 = tree.root.children[0].children[0]
        await pilot.press("right", "right")  # into the open namespace, to its first pod
        assert tree.cursor_node is web1 and not web1.is_expanded
        await pilot.press("right")
        assert web1.is_expanded
        await pilot.press("right")
        assert tree.cursor_node is web1.children[0]
        await pilot.press("left", "left")  # up to the pod, then close it
        assert tree.cursor_node is web1 and not web1.is_expanded
        await pilot.press("left")
        assert tree.cursor_node is tree.root.children[0]
        assert tree.scroll_x == 0


def test_selection_rewrites_the_query() -> None:
    q = ParsedQuery.of("level=error ns=shop pod=web-1 timeout")
    assert Selection("payments").apply(q).typed == "level=error namespace=payments timeout"
    assert (
        Selection("shop", "cart", "app").apply(ParsedQuery.of("x")).typed
        == "namespace=shop pod=cart container=app x"
    )
    assert Selection().apply(q).typed == "level=error timeout"


def test_counts_read_short() -> None:
    assert [human_count(n) for n in (0, 999, 1000, 12_345, 999_999, 3_400_000)] == [
        "0",
        "999",
        "1.0k",
        "12k",
        "999k",
        "3.4M",
    ]
    assert [human_bytes(n) for n in (512, 80 * 1024, 3 * 1024**3 // 2)] == [
        "512 B",
        "80 KiB",
        "1.5 GiB",
    ]


# -- status bar -----------------------------------------------------------------------


class StatusHost(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(collecting=True)


async def test_status_bar_shows_mode_store_and_collector_errors() -> None:
    app = StatusHost()
    async with app.run_test(size=(150, 3)) as pilot:
        bar = app.query_one(StatusBar)
        stats = CollectorStats()
        stats.add_lines("a", 50)
        stats.error("/var/log/pods/x/0.log", "cannot read: Permission denied; skipped")
        bar.update_store(StoreStats(1_234_567, 12, 5 * 1024**2, T0, T0))
        bar.update_collector(stats.snapshot(), caught_up=False)
        bar.update_view(follow=False, new_lines=42, loading=False)
        await pilot.pause()
        assert bar.render().plain == (
            " PAUSED  42 new (G follows)  1.2M lines · 12 sources · 5.0 MiB · 10 lines/s"
            " · catching up  1 collector error (e)"
        )
        bar.update_view(follow=True, new_lines=0, loading=True)
        assert bar.render().plain.startswith(" FOLLOW   loading…  1.2M lines")
