"""Event fields in the facets screen and the query bar's completion, on a real store
through the app: the fields of the matching events, a field's top values with counts,
picking one narrows the log to it."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import OptionList

from klogtui.formats.fields import stored_fields
from klogtui.formats.levels import level_of
from klogtui.model import Batch, Record, SourceInfo, Stream
from klogtui.store import Store
from klogtui.ui.app import KlogApp
from tests.store_helpers import SEC, T0, key
from tests.ui_fixtures import FIXED_NOW, settle, text_of, until

WEB = key(ns="shop", pod="web-1", container="app")


def _messages() -> list[str]:
    out = []
    for i in range(60):
        status = 503 if i % 10 == 0 else 200 if i % 3 else 404
        if i % 2:
            out.append(f'{{"level":"info","msg":"req {i}","status":{status},"route":"/r{i % 4}"}}')
        else:
            out.append(f'level=info msg="req {i}" status={status} user_id={i % 5}')
    out.append("plain text without fields")
    return out


MESSAGES = _messages()


def _store(path: Path) -> Store:
    store = Store.open(path)
    records = []
    for i, m in enumerate(MESSAGES):
        level, fields = stored_fields(m, level_of(m.encode(), m))
        records.append(Record(T0 + i * SEC, WEB, Stream.STDOUT, m, level, 0, fields))
    writer = store.start_writer()
    try:
        writer.submit(Batch(records, sources=[SourceInfo(WEB, labels={"app": "web"})]))
        assert writer.flush(30)
    finally:
        writer.close()
    return store


def _ids(options: OptionList) -> list[str]:
    return [str(options.get_option_at_index(i).id) for i in range(options.option_count)]


def _values(options: OptionList) -> list[str]:
    return [
        " ".join(str(options.get_option_at_index(i).prompt).split())
        for i in range(options.option_count)
    ]


def _requests(shown: str) -> set[int]:
    """The request numbers of the events on screen (their message field: `req 12`)."""
    return {int(n) for n in re.findall(r"\breq (\d+)\b", shown)}


async def test_facets_list_event_fields_and_pick_a_value(tmp_path: Path) -> None:
    app = KlogApp(_store(tmp_path / "s.db"), now_ns=FIXED_NOW, save_dir=tmp_path)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        fields = app.screen.query_one("#facet-fields", OptionList)
        await until(pilot, lambda: ".status" in _ids(fields))
        await until(pilot, lambda: "label:app" in _ids(fields))
        # Built-in fields, then the event fields (most common first), then labels.
        assert _ids(fields) == [
            "namespace", "pod", "container", "stream", "level", "node",
            ".status", ".route", ".user_id", "label:app",
        ]  # fmt: skip
        fields.highlighted = _ids(fields).index(".status")
        values = app.screen.query_one("#facet-values", OptionList)
        # 60 events: status 503 for every 10th, 404 for the others divisible by 3.
        await until(pilot, lambda: _values(values) == ["36 200", "18 404", "6 503"])
        await pilot.press("enter", "down", "down", "enter")  # to the values; pick 503
        await settle(pilot)
        assert app.query_bar.applied.canonical == ".status=503"
        shown = text_of(app.log_view)
        assert _requests(shown) == set(range(0, 60, 10))
        assert "plain text" not in shown


async def test_facets_exclude_an_event_field_value(tmp_path: Path) -> None:
    app = KlogApp(_store(tmp_path / "s.db"), now_ns=FIXED_NOW, save_dir=tmp_path)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        fields = app.screen.query_one("#facet-fields", OptionList)
        await until(pilot, lambda: ".user_id" in _ids(fields))
        fields.highlighted = _ids(fields).index(".user_id")
        values = app.screen.query_one("#facet-values", OptionList)
        await until(pilot, lambda: len(_values(values)) == 5)
        await pilot.press("enter", "x")  # exclude the first (most common) value
        await settle(pilot)
        # Six events each for user_id 0-4: the first listed is "0".
        assert app.query_bar.applied.canonical == ".user_id!=0"
        shown = text_of(app.log_view)
        # The newest rows: user_id 0 (req 50) gone, others and events without it kept.
        assert 50 not in _requests(shown) and 52 in _requests(shown) and "plain text" in shown


async def test_query_bar_completes_event_fields_and_their_values(tmp_path: Path) -> None:
    app = KlogApp(_store(tmp_path / "s.db"), now_ns=FIXED_NOW, save_dir=tmp_path)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        field = app.query_bar.input
        for ch in "-.us":
            await pilot.press(ch if ch != "-" else "minus")
        await until(pilot, lambda: field._suggestion == "-.user_id")
        await pilot.press("right")  # accept
        assert field.value == "-.user_id"
        await pilot.press(*["backspace"] * len("user_id"), *"status=5")
        await until(pilot, lambda: field._suggestion == "-.status=503")
        await pilot.press("right", "enter")
        await settle(pilot)
        assert app.query_bar.applied.canonical == "-.status=503"
