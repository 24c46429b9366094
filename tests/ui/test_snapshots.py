"""SVG snapshots of the main screens on fixed data, a fixed "now" and a fixed size.

Update them after an intended change with `pytest tests/ui/test_snapshots.py
--snapshot-update` and look at the SVGs in snapshots/ before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from textual.pilot import Pilot

from klogtui.ui.app import KlogApp
from tests.snapshot_ext import TopLevelSnapshot
from tests.ui_fixtures import FIXED_NOW, build_demo_store, build_empty_store, settle

SnapCompare = Callable[..., bool]
MAIN_SIZE = (120, 32)


@pytest.fixture(autouse=True)
def _colour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots show the colours (the shared conftest sets NO_COLOR for other tests)."""
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots go to the top-level snapshots/ directory (see tests/snapshot_ext.py)."""
    return TopLevelSnapshot(
        session=snapshot.session,
        extension_class=snapshot.extension_class,
        test_location=snapshot.test_location,
        update_snapshots=snapshot.update_snapshots,
    )


def demo_app(tmp_path: Path, query: str = "") -> KlogApp:
    return KlogApp(
        build_demo_store(tmp_path / "demo.db"),
        now_ns=FIXED_NOW,
        query=query,
        history_path=None,
        save_dir=tmp_path,
    )


def keys_then_settle(*keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


def snap(
    snap_compare: SnapCompare,
    app: KlogApp,
    keys: Iterable[str] = (),
    size: tuple[int, int] = MAIN_SIZE,
) -> bool:
    return snap_compare(app, terminal_size=size, run_before=keys_then_settle(*keys))


def test_empty_store(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = KlogApp(build_empty_store(tmp_path / "empty.db"), now_ns=FIXED_NOW, history_path=None)
    assert snap(snap_compare, app)


def test_demo_data(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap(snap_compare, demo_app(tmp_path))


def test_query_with_highlights(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap(snap_compare, demo_app(tmp_path, '"connection refused" OR timeout'))


def test_detail(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap(snap_compare, demo_app(tmp_path), keys=("k", "k", "k", "enter"))


def test_facet_picker(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap(snap_compare, demo_app(tmp_path, "level=error"), keys=("f",))


def test_help(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap(snap_compare, demo_app(tmp_path), keys=("question_mark",))


def test_narrow_80x24(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap(snap_compare, demo_app(tmp_path, "ns=shop"), size=(80, 24))
