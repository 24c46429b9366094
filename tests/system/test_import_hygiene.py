"""The dependency direction is the architecture: only klogtui.ui may import textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import klogtui
from klogtui.model import Batch, SourceInfo
from klogtui.store import Store
from tests.store_helpers import SEC, T0, key, rec, write

HEADLESS = sorted(
    m.name
    for m in pkgutil.walk_packages(klogtui.__path__, "klogtui.")
    if not m.name.startswith("klogtui.ui") and m.name != "klogtui.__main__"
)
# The log pane's state, its reads, the throttle, the SGR reader and the field text live
# in ui/ but hold no widget: they are unit-tested without Textual, so they must stay
# importable without it.
HEADLESS += [
    "klogtui.ui.log_window",
    "klogtui.ui.log_reads",
    "klogtui.ui.throttle",
    "klogtui.ui.sgr",
    "klogtui.ui.field_text",
]
# Modules, or packages whose modules may import one another but nothing else of ours.
LEAVES = ["klogtui.formats", "klogtui.paths", "klogtui.model"]
LEAF_MODULES = [
    m for m in HEADLESS if any(m == leaf or m.startswith(leaf + ".") for leaf in LEAVES)
]


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_modules_do_not_import_textual(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}, module


@pytest.mark.parametrize("module", LEAF_MODULES)
def test_leaf_modules_import_nothing_of_ours(module: str) -> None:
    leaf = next(leaf for leaf in LEAVES if module == leaf or module.startswith(leaf + "."))
    ours = {m for m in _loaded_after_import(module) if m.startswith("klogtui.")}
    outside = {m for m in ours if m != leaf and not m.startswith(leaf + ".")}
    assert not outside, outside


def test_every_leaf_is_found() -> None:
    assert set(LEAVES) <= set(LEAF_MODULES)
    assert "klogtui.formats.decoder" in LEAF_MODULES  # a package's modules are checked too


def test_query_command_starts_without_the_app() -> None:
    loaded = _loaded_after_import("klogtui.query_cmd")
    assert "klogtui.ui.app" not in loaded and "rich" not in loaded


def test_the_local_explorer_starts_without_the_kubernetes_client() -> None:
    # Importing it took ~0.6 s of the explorer's start, racing its collector for the
    # first screen; only remote mode and API-backed collection need it.
    loaded = _loaded_after_import("klogtui.ui.app")
    assert "kubernetes" not in loaded


def _loaded_by_query(db: Path, query: str, listing: Path) -> tuple[str, set[str]]:
    """What `klogtui query QUERY --db db` printed, and the modules it had loaded."""
    code = (
        "import sys; from klogtui.cli import main; rc = main(sys.argv[2:]); "
        "open(sys.argv[1], 'w').write('\\n'.join(sys.modules)); sys.exit(rc)"
    )
    argv = [str(listing), "query", query, "--db", str(db), "-o", "jsonl"]
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    return out.stdout, set(listing.read_text().split())


def test_the_query_command_loads_only_what_it_uses(store: Store, tmp_path: Path) -> None:
    # Every module is import time out of each `klogtui query` process (see BENCHMARKS.md):
    # the regex module alone took ~10 ms of ~85, for a glob that needs no regex; the
    # time grammar's patterns ~1 ms, for a query without since:/until:; shutil (for
    # argparse's terminal width) ~2 ms; dataclasses (with inspect, for two small records
    # of the store's text) ~4 ms; the log file decoder, imported by the formats package
    # for its ANSI stripping, ~2 ms; random (only training a dictionary uses it) ~1 ms.
    web, db = key(pod="web-7d9f"), key(pod="db-0")
    write(
        store,
        Batch(
            [rec(T0, "serving", web), rec(T0 + SEC, "ready", db)],
            sources=[SourceInfo(web), SourceInfo(db)],
        ),
    )
    printed, loaded = _loaded_by_query(store.path, "pod=web-*", tmp_path / "modules")
    assert '"message": "serving"' in printed and "ready" not in printed
    never = (
        *("regex", "signal", "shutil", "klogtui.query.times"),
        *("dataclasses", "inspect", "random", "klogtui.formats.decoder"),
        *("textual", "rich", "kubernetes", "klogtui.ui", "klogtui.collect", "klogtui.alerts"),
    )
    assert not {m for m in loaded if m.startswith(never)}
    # A regex brings it in when the query has one.
    printed, loaded = _loaded_by_query(store.path, "pod=~^web", tmp_path / "modules")
    assert '"message": "serving"' in printed and "regex" in loaded
