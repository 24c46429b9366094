"""While the collector stores older history after the recent lines (recent first, see
klogtui.collect.files.backfill), the status line and the histogram say how much of it is
stored, and stop saying so once it all is."""

from __future__ import annotations

from pathlib import Path

import pytest

from klogtui.collect.base import CollectorStats
from klogtui.ui.app import KlogApp
from tests.ui_fixtures import FIXED_NOW, build_demo_store, settle


class LoadingHistory:
    """A collector as the app sees it, at a given point of loading older history."""

    def __init__(self) -> None:
        self.stats = CollectorStats()
        self.loading: float | None = 0.38

    def caught_up(self) -> bool:
        return self.loading is None

    def history_loading(self) -> float | None:
        return self.loading

    def stop(self) -> bool:
        return True


@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
async def test_status_and_histogram_say_history_is_loading_until_it_is_stored(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = KlogApp(build_demo_store(tmp_path / "demo.db"), now_ns=FIXED_NOW, save_dir=tmp_path)
    collection = LoadingHistory()
    app.collection = collection
    async with app.run_test(size=size) as pilot:
        app._tick()
        await settle(pilot)
        h = app.histogram
        axis = h.render_line(h.size.height - 1).text
        assert "loading history: 38%" in app.status_bar.render().plain
        assert "catching up" not in app.status_bar.render().plain
        assert "loading history: 38%" in axis
        collection.loading = None
        app._tick()
        await settle(pilot)
        assert "loading history" not in app.status_bar.render().plain
        assert "loading history" not in h.render_line(h.size.height - 1).text
