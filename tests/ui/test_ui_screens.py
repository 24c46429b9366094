"""The secondary screens (detail, facets, help, time jump, save, context, errors), each
pushed on a tiny host app and driven with Pilot as a user would."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.app import App
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import Input, OptionList

from klogtui.collect.base import ErrorEntry
from klogtui.model import Flag, Level, LogLine, Source, SourceKey, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.query.parser import parse
from klogtui.ui.screens.context import ContextScreen
from klogtui.ui.screens.detail import DetailScreen
from klogtui.ui.screens.error_log import ErrorLogScreen
from klogtui.ui.screens.facets import FacetScreen, excluding
from klogtui.ui.screens.help import HelpScreen
from klogtui.ui.screens.save import SaveScreen
from klogtui.ui.screens.time_jump import TimeJumpScreen
from tests.ui_fixtures import text_of, until

T0 = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z
SEC = 1_000_000_000
NASTY = "[bold red]boom[/] \x1b[31mred\x1b[0m \x1b]0;t\x07 done"


class Host(App[None]):
    """Pushes one screen on mount and records what it dismisses with."""

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make = make
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.make(), callback=self.results.append)


def flat(text: str) -> str:
    """Text with its wrapping undone (runs of whitespace as one space)."""
    return " ".join(text.split())


SOURCE = Source(
    id=3,
    key=SourceKey("shop", "web-1", "app", 2, "uid-web-1"),
    container_id="containerd://0123abcd",
    node="node-a",
    labels={"app": "web", "tier": "front"},
    state="terminated",
    reason="OOMKilled",
    first_ts=T0,
    last_ts=T0,
    lines=10,
)


def line(i: int, message: str, **kw: int) -> LogLine:
    return LogLine(
        id=1000 + i,
        ts=T0 + i * SEC,
        source_id=kw.get("source_id", 3),
        stream=kw.get("stream", Stream.STDOUT),
        level=kw.get("level", Level.INFO),
        flags=kw.get("flags", 0),
        message=message,
    )


# -- detail ---------------------------------------------------------------------------


async def test_detail_shows_all_metadata(utc: None) -> None:
    ln = line(
        0,
        "plain text",
        stream=Stream.STDERR,
        level=Level.ERROR,
        flags=Flag.TRUNCATED | Flag.MALFORMED,
    )
    app = Host(lambda: DetailScreen(ln, SOURCE, now_ns=T0 + 65 * SEC))
    async with app.run_test(size=(110, 45)) as pilot:
        await pilot.pause()
        meta = text_of(app.screen.query_one("#detail-meta"))
        for row in [
            "time (UTC)    2026-11-18T11:06:40.000000000Z",
            "local time    2026-11-18 11:06:40.000000000 UTC",
            "age           1m 5s ago",
            "namespace     shop",
            "pod           web-1",
            "pod uid       uid-web-1",
            "container     app",
            "restart       2",
            "container id  containerd://0123abcd",
            "node          node-a",
            "state         terminated (OOMKilled)",
            "labels        app=web",
            "              tier=front",
            "stream        stderr",
            "level         error",
            "flags         malformed: not a valid CRI/Docker line",
            "line id       1000",
        ]:
            assert row in meta
        assert "truncated: the line was longer than the size cap" in meta
        assert "unterminated" not in meta
        assert "plain text" in text_of(app.screen.query_one("#detail-message"))


async def test_detail_shows_a_dash_for_no_labels() -> None:
    bare = SOURCE._replace(labels={}, container_id="", node="")
    app = Host(lambda: DetailScreen(line(0, "plain text"), bare, now_ns=T0))
    async with app.run_test(size=(110, 45)) as pilot:
        await pilot.pause()
        meta = text_of(app.screen.query_one("#detail-meta")).splitlines()
        assert "labels        -" in meta
        assert "container id  -" in meta


async def test_detail_pretty_prints_json_with_colour() -> None:
    msg = '{"level":"error","msg":"boom","attempts":[1,2],"esc":"\x1b[31m"}'
    app = Host(lambda: DetailScreen(line(0, msg), SOURCE))
    async with app.run_test(size=(100, 45)) as pilot:
        await pilot.pause()
        widget = app.screen.query_one("#detail-message")
        shown = text_of(widget)
        assert shown.splitlines()[:4] == [
            "{",
            '  "level": "error",',
            '  "msg": "boom",',
            '  "attempts": [',
        ]
        assert '"esc": "\\u001b[31m"' in shown  # the raw ESC shown inert
        strips = widget.render_lines(Region(0, 0, widget.size.width, 3))
        colours = {seg.style.color for s in strips for seg in s if seg.style and seg.text.strip()}
        assert len(colours) >= 2  # keys and strings highlighted differently
        assert text_of(app.screen.query_one(".detail-heading")) == "message (JSON, pretty-printed)"


async def test_detail_message_is_inert() -> None:
    app = Host(lambda: DetailScreen(line(0, NASTY), None))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        shown = text_of(app.screen.query_one("#detail-message"))
        assert "[bold red]boom[/] red \\x1b]0;t\\x07 done" in shown  # SGR shown as colour
        assert "\x1b" not in shown
        assert "unknown (source id 3)" in text_of(app.screen.query_one("#detail-meta"))


async def test_detail_copy_context_and_close() -> None:
    ln = line(0, NASTY)
    app = Host(lambda: DetailScreen(ln, SOURCE))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("y")
        assert app.clipboard == NASTY  # the raw message, as the container wrote it
        await pilot.press("c")
        assert app.results == ["context"]
        assert not isinstance(app.screen, DetailScreen)
    for key in ("escape", "q"):
        app = Host(lambda: DetailScreen(ln, SOURCE))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press(key)
            assert app.results == [None]


async def test_detail_scrolls_long_message() -> None:
    msg = "{" + ",".join(f'"k{i}": {i}' for i in range(200)) + "}"
    app = Host(lambda: DetailScreen(line(0, msg), SOURCE))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        body = app.screen.query_one("#detail-body")
        assert body.has_focus and body.max_scroll_y > 100
        await pilot.press("end")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y
        assert '"k199": 199' in text_of(app.screen.query_one("#detail-message"))


# -- facets ---------------------------------------------------------------------------

FACETS: dict[str, list[tuple[str, int]]] = {
    "namespace": [("shop", 120), ("kube-system", 30)],
    "pod": [("web-1", 100), ("web-2", 50)],
    "level": [("info", 140), ("error", 10)],
    "labels": [("app=web", 150), ("tier=front", 150), ("app=db", 5), ("pod=x", 1)],
    "label:app": [("web", 150), ("db", 5)],
}


def fetch(field: str) -> tuple[list[tuple[str, int]], bool]:
    return FACETS.get(field, []), True


def values_shown(app: App[Any]) -> list[str]:
    values = app.screen.query_one("#facet-values", OptionList)
    out = []
    for i in range(values.option_count):
        prompt = values.get_option_at_index(i).prompt
        assert isinstance(prompt, Text)
        out.append(" ".join(prompt.plain.split()))
    return out


def fields_shown(app: App[Any]) -> list[str]:
    fields = app.screen.query_one("#facet-fields", OptionList)
    return [str(fields.get_option_at_index(i).id) for i in range(fields.option_count)]


async def test_facets_lists_fields_labels_and_counts() -> None:
    app = Host(lambda: FacetScreen(ParsedQuery.of("timeout"), fetch))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: values_shown(app) == ["120 shop", "30 kube-system"])
        await until(pilot, lambda: len(fields_shown(app)) == 9)
        assert fields_shown(app) == [
            "namespace",
            "pod",
            "container",
            "stream",
            "level",
            "node",
            "label:app",
            "label:pod",
            "label:tier",
        ]
        shown = text_of(app.screen.query_one("#facet-values"))
        assert "120  shop" in shown and "30  kube-system" in shown


async def test_facets_enter_narrows_the_query() -> None:
    app = Host(lambda: FacetScreen(ParsedQuery.of("timeout"), fetch))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(values_shown(app)) == 2)
        await pilot.press("enter")  # on the field: go to its values
        await pilot.press("down", "enter")
        assert app.results == [ParsedQuery.of("namespace=kube-system timeout")]


async def test_facets_other_field_and_exclude() -> None:
    app = Host(lambda: FacetScreen(ParsedQuery.of("ns=shop timeout"), fetch))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(values_shown(app)) == 2)
        await pilot.press("down")  # pod
        await until(pilot, lambda: values_shown(app) == ["100 web-1", "50 web-2"])
        await pilot.press("tab")  # to the filter input, then down to the values
        await pilot.press("down", "x")
        assert app.results == [ParsedQuery.of("namespace=shop pod!=web-1 timeout")]


async def test_facets_label_values() -> None:
    app = Host(lambda: FacetScreen(ParsedQuery.of(""), fetch))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(fields_shown(app)) == 9)
        fields = app.screen.query_one("#facet-fields", OptionList)
        fields.highlighted = fields_shown(app).index("label:app")
        await until(pilot, lambda: values_shown(app) == ["150 web", "5 db"])
        await pilot.press("enter", "down", "minus")
        assert app.results == [ParsedQuery.of("app!=db")]


async def test_facets_type_to_filter() -> None:
    app = Host(lambda: FacetScreen(ParsedQuery.of(""), fetch))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(values_shown(app)) == 2)
        await pilot.press("slash", "k", "u", "b")
        assert values_shown(app) == ["30 kube-system"]
        # "x" and "q" are typed into the filter, not taken as keys.
        await pilot.press("x", "q")
        assert app.screen.query_one("#facet-filter", Input).value == "kubxq"
        assert values_shown(app) == [] and app.results == []
        for _ in range(2):
            await pilot.press("backspace")
        await pilot.press("enter")
        assert app.results == [ParsedQuery.of("namespace=kube-system")]


async def test_facets_newer_field_wins_over_slow_fetch() -> None:
    release = threading.Event()
    calls: list[str] = []

    def slow(field: str) -> tuple[list[tuple[str, int]], bool]:
        calls.append(field)
        if field == "namespace":
            release.wait(5)
        return fetch(field)

    app = Host(lambda: FacetScreen(ParsedQuery.of(""), slow))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "namespace" in calls)
        values = app.screen.query_one("#facet-values", OptionList)
        assert values.loading  # the loading indicator is up while the count runs
        await pilot.press("down")
        await until(pilot, lambda: values_shown(app) == ["100 web-1", "50 web-2"])
        assert not values.loading
        release.set()
        await pilot.pause(0.2)
        assert values_shown(app) == ["100 web-1", "50 web-2"]


async def test_facets_fetch_error_shown_not_raised() -> None:
    def broken(field: str) -> tuple[list[tuple[str, int]], bool]:
        raise RuntimeError("database is locked")

    app = Host(lambda: FacetScreen(ParsedQuery.of(""), broken))
    async with app.run_test(size=(100, 30)) as pilot:
        error = app.screen.query_one("#facet-error")
        await until(pilot, lambda: "database is locked" in text_of(error))
        assert "cannot count namespace values" in text_of(error)
        assert isinstance(app.screen, FacetScreen)


async def test_facets_value_the_query_cannot_name_is_reported_not_dismissed() -> None:
    def odd_label(field: str) -> tuple[list[tuple[str, int]], bool]:
        if field == "labels":
            return [("team lead=ann", 3)], True
        # Other fields' values differ, so waiting for these waits for this field's load.
        return ([("ann", 3)] if field == "label:team lead" else [("web", 1)]), True

    app = Host(lambda: FacetScreen(ParsedQuery.of("timeout"), odd_label))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "label:team lead" in fields_shown(app))
        fields = app.screen.query_one("#facet-fields", OptionList)
        fields.highlighted = fields_shown(app).index("label:team lead")
        await until(pilot, lambda: values_shown(app) == ["3 ann"])
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.query_one("#facet-values").has_focus)
        await pilot.press("enter")
        error = app.screen.query_one("#facet-error")
        await until(pilot, lambda: "cannot edit the query" in text_of(error))
        assert app.results == []
        await pilot.press("escape")
        assert app.results == [None]


def test_excluding_builds_on_the_ast() -> None:
    assert excluding("", "pod", "web-1") == "pod!=web-1"
    assert excluding("pod=web-1 timeout", "pod", "web-1") == "pod!=web-1 timeout"
    assert excluding("pod=web-* x", "pod", "web-1") == "pod=web-* pod!=web-1 x"
    assert excluding("pod!=a", "pod", "a") == "pod!=a"
    # Values are quoted by the serializer when the language needs it.
    out = excluding("a OR b", "label.team", 'x "y" z')
    assert out == 'team!="x \\"y\\" z" (a OR b)'
    assert parse(out) == parse('team!="x \\"y\\" z" (a OR b)')
    # A label that shares a name with a key keeps its prefix.
    assert excluding("", "label.pod", "x") == "label.pod!=x"


# -- help -----------------------------------------------------------------------------


async def test_help_lists_bindings_and_closes() -> None:
    bindings = [("/", "focus the query bar"), ("[", "markup must stay [b]literal[/b]")]
    for key in ("escape", "q", "question_mark"):
        app = Host(lambda: HelpScreen(bindings))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            keys = text_of(app.screen.query_one("#help-keys"))
            assert keys.splitlines() == [
                "/   focus the query bar",
                "[   markup must stay [b]literal[/b]",
            ]
            query = text_of(app.screen.query_one("#help-query"))
            assert '"connection refused"' in query and "since:15m" in query
            await pilot.press(key)
            assert app.results == [None]
            assert not isinstance(app.screen, HelpScreen)


# -- time jump ------------------------------------------------------------------------


async def test_time_jump_relative_and_absolute(utc: None) -> None:
    for typed, expected in [("-15m", T0 - 900 * SEC), ("2026-11-18T10:00:00Z", T0 - 4_000 * SEC)]:
        app = Host(lambda: TimeJumpScreen(T0))
        async with app.run_test(size=(90, 20)) as pilot:
            await pilot.press(*typed)
            assert "→ " in text_of(app.screen.query_one("#jump-preview"))
            await pilot.press("enter")
            assert app.results == [expected]


async def test_time_jump_error_keeps_screen_open(utc: None) -> None:
    app = Host(lambda: TimeJumpScreen(T0))
    async with app.run_test(size=(90, 20)) as pilot:
        await pilot.press(*"soon", "enter")
        assert app.results == []
        preview = app.screen.query_one("#jump-preview")
        assert "cannot read 'soon'" in text_of(preview)
        assert preview.has_class("-error")
        await pilot.press("escape")
        assert app.results == [None]


async def test_time_jump_says_which_zone(berlin: None) -> None:
    app = Host(lambda: TimeJumpScreen(T0))
    async with app.run_test(size=(90, 20)) as pilot:
        await pilot.pause()
        hint = text_of(app.screen.query_one(".hint"))
        assert "Times without Z or an offset are local time, CET (UTC+01:00)." in hint
        await pilot.press(*"10:30", "enter")
        # 10:30 CET on 2026-11-18 is 09:30Z, 1h36m40s before T0.
        assert app.results == [T0 - 5_800 * SEC]


# -- save -----------------------------------------------------------------------------


async def test_save_default_and_format_switch(tmp_path: Path) -> None:
    app = Host(lambda: SaveScreen(tmp_path, now_ns=T0))
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        path_input = app.screen.query_one("#save-path", Input)
        assert path_input.value == str(tmp_path / "klogtui-20261118T110640Z.jsonl")
        await pilot.press("tab", "right", "enter")  # the format set: pick "text"
        assert path_input.value == str(tmp_path / "klogtui-20261118T110640Z.log")
        await pilot.press("shift+tab", "enter")
        assert app.results == [(tmp_path / "klogtui-20261118T110640Z.log", "text")]


async def test_save_jsonl_enter() -> None:
    app = Host(lambda: SaveScreen(Path("/tmp"), now_ns=T0))
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.press("enter")
        assert app.results == [(Path("/tmp/klogtui-20261118T110640Z.jsonl"), "jsonl")]


async def test_save_validates_directory(tmp_path: Path) -> None:
    app = Host(lambda: SaveScreen(tmp_path, now_ns=T0))
    async with app.run_test(size=(100, 20)) as pilot:
        path_input = app.screen.query_one("#save-path", Input)
        error = app.screen.query_one("#save-error")
        path_input.value = str(tmp_path / "missing" / "out.jsonl")
        await pilot.press("enter")
        assert f"directory {tmp_path / 'missing'} does not exist" in flat(text_of(error))
        path_input.value = str(tmp_path)
        await pilot.press("enter")
        assert f"{tmp_path} is a directory" in flat(text_of(error))
        existing = tmp_path / "old.jsonl"
        existing.write_text("keep\n")
        path_input.value = str(existing / "out.jsonl")
        await pilot.press("enter")
        assert f"{existing} is not a directory" in flat(text_of(error))
        path_input.value = str(existing)
        await pilot.press("enter")
        assert "exists: press Enter again to overwrite it" in flat(text_of(error))
        assert app.results == []
        await pilot.press("enter")
        assert app.results == [(existing, "jsonl")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
async def test_save_rejects_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        app = Host(lambda: SaveScreen(ro, now_ns=T0))
        async with app.run_test(size=(100, 20)) as pilot:
            await pilot.press("enter")
            error = app.screen.query_one("#save-error")
            assert f"cannot write to directory {ro}" in flat(text_of(error))
            await pilot.press("escape")
            assert app.results == [None]
    finally:
        ro.chmod(0o700)


# -- context --------------------------------------------------------------------------


async def test_context_marks_and_shows_the_line() -> None:
    lines = [line(i, f"message {i}") for i in range(200)]
    lines[150] = line(150, NASTY, level=Level.ERROR)
    app = Host(lambda: ContextScreen(lines, {3: SOURCE}, focus_id=1150, now_ns=T0))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        view = app.screen.query_one("#context-lines", OptionList)
        assert view.highlighted == 150
        shown = text_of(view)
        marked = [ln for ln in shown.splitlines() if "▶" in ln]
        assert len(marked) == 1
        assert "▶ 11:09:10.000" in marked[0]  # the time column, as the log pane has it
        assert "ERR [bold red]boom[/] red \\x1b]0;t\\x07 done" in marked[0]
        assert "message 149" in shown  # lines before it are in view too
        assert "web-1/app" not in shown  # one container: no source column
        assert "context: shop/web-1/app#2" in text_of(app.screen.query_one("#context-box"))
        assert "150 lines before, 49 after" in text_of(app.screen.query_one(".hint"))
        await pilot.press("q")
        assert app.results == [None]


# -- errors ---------------------------------------------------------------------------


async def test_error_log_newest_first_and_inert() -> None:
    errors = [
        ErrorEntry("/var/log/pods/a", "permission denied", T0),
        ErrorEntry("pod shop/web-1", "stream ended \x1b[2J [red]x[/]", T0 + 2 * SEC),
        ErrorEntry("kube api", "401 Unauthorized", T0 + SEC),
    ]
    app = Host(lambda: ErrorLogScreen(errors))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        shown = text_of(app.screen.query_one("#errors-table"))
        order = [shown.index(s) for s in ("stream ended", "401 Unauthorized", "permission denied")]
        assert order == sorted(order)
        assert "2026-11-18T11:06:42.000000000Z" in shown
        assert "\\x1b[2J [red]x[/]" in shown
        assert "Collector errors (3)" in text_of(app.screen.query_one("#errors-box"))
        await pilot.press("escape")
        assert app.results == [None]


async def test_error_log_empty() -> None:
    app = Host(lambda: ErrorLogScreen([]))
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        assert "No errors reported." in text_of(app.screen.query_one("#errors-table"))
