"""Gap markers as the user meets them: highlighted in the timeline, counted in the tree."""

from __future__ import annotations

from pathlib import Path

from klogtui.gaps import gap_message
from klogtui.model import Batch, Flag, Level, Record, Stream
from klogtui.ui.app import KlogApp
from klogtui.ui.widgets.query_bar import QueryInput
from tests.store_helpers import SEC, T0
from tests.ui_fixtures import FIXED_NOW, SOURCES, build_demo_store, settle, until


async def test_gap_is_shown_in_the_timeline_and_counted_in_the_tree(tmp_path: Path) -> None:
    store = build_demo_store(tmp_path / "demo.db")
    checkout = SOURCES[0].key
    assert checkout.pod == "checkout-7d9f8"
    start, end = T0 + 500 * SEC, T0 + 530 * SEC
    gap = Record(
        start,
        checkout,
        Stream.COMBINED,
        gap_message(start, end, "the log file was rotated before klogtui read them"),
        Level.WARN,
        Flag.GAP,
    )
    writer = store.start_writer()
    try:
        writer.submit(Batch(records=[gap]))
        assert writer.flush(30)
    finally:
        writer.close()
    app = KlogApp(store, now_ns=FIXED_NOW, save_dir=tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        shop = next(n for n in app.sources_tree.root.children if str(n.label).startswith("shop"))
        await until(pilot, lambda: "⚠1 gap" in str(shop.label))
        pods = {str(n.label).split()[1]: str(n.label) for n in shop.children}
        assert pods["checkout-7d9f8"].endswith("⚠1 gap")
        assert "gap" not in pods["cart-5b6c"]
        await pilot.press("slash")
        app.query_one(QueryInput).value = "pod=checkout-7d9f8 klogtui gap"
        await pilot.press("enter")
        await settle(pilot)
        (row,) = [r for r in app.log_view.rendered_rows() if r.strip()]
        assert (
            "⚠ klogtui gap: lines from 2026-11-18T11:15:00.000000000Z to 2026-11-18T11:15:30" in row
        )
