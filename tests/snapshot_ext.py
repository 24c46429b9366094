"""SVG snapshots stored in the repository's top-level `snapshots/` directory.

pytest-textual-snapshot's `snap_compare` keeps SVGs in `__snapshots__` next to the
tests; the project keeps them in `snapshots/` (the design card's layout). Its fixture
asks the `snapshot` fixture for its SVG extension, so a `snapshot` whose
`use_extension` hands out this subclass instead is all it takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

__all__ = ["SNAPSHOT_DIR", "TopLevelSnapshot", "TopLevelSVGExtension"]

SNAPSHOT_DIR = Path(__file__).resolve().parent.parent / "snapshots"


class TopLevelSVGExtension(SVGImageExtension):
    """The plugin's SVG extension, writing to snapshots/<test name>.svg."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOT_DIR)


class TopLevelSnapshot(SnapshotAssertion):
    """A snapshot assertion that always uses TopLevelSVGExtension."""

    def use_extension(self, extension_class: Any = None) -> SnapshotAssertion:
        return self.with_defaults(extension_class=TopLevelSVGExtension)
