"""Exact timestamps whatever the store's row layout.

Since schema 8 a line's row keeps its timestamp as the remainder past its id's bucket
start (store/ids.py); a store made before keeps the timestamp itself. Either way a
user sees and filters every line at its exact instant: on bucket edges, on lines whose
id left their bucket (many on one instant), before 1970 and past 2059 (ids clamp),
and in what recovery reads back from a damaged store's pages.
"""

from __future__ import annotations

import gzip
import shutil
from collections import Counter
from pathlib import Path

import pytest

from klogtui.model import Batch, Record, SourceKey, Stream
from klogtui.store import Store
from klogtui.store.pages import read_rows
from tests.corpus import v7_store
from tests.corpus.v7_store import BUCKET, EDGE, EDGE_STAMPS, SEC, T0, edge_message
from tests.helpers_files import ts_text
from tests.store_helpers import write

V7_STORE = Path(__file__).parent.parent / "corpus" / "store_v7.db.gz"
DENSE = SourceKey("shop", "dense-0", "app", 0, "uid-dense-0")
DENSE_TS = T0 + SEC + 5
DENSE_LINES = 33_000  # more than a bucket's 32,768 slots: later ids leave the bucket


def _v7_copy(tmp_path: Path) -> Path:
    db = tmp_path / "v7.db"
    with gzip.open(V7_STORE, "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def _edge_records(tag: str) -> list[Record]:
    return [
        Record(ts, EDGE, Stream.STDERR, f"{tag} {edge_message(i)}", 0)
        for i, ts in enumerate(EDGE_STAMPS)
    ]


def _dense_records() -> list[Record]:
    return [Record(DENSE_TS, DENSE, Stream.STDOUT, f"dense {n}", 0) for n in range(DENSE_LINES)]


def _shown(store: Store, query: str) -> list[tuple[int, str]]:
    reader = store.reader()
    try:
        return [(ln.ts, ln.message) for ln in reader.oldest(query, 10**6)]
    finally:
        reader.close()


def _stamped(records: list[Record]) -> list[tuple[int, str]]:
    return [(r.ts, r.message) for r in records]


def _assert_edges_bound_exactly(store: Store, tag: str) -> None:
    """since: and until: on the bucket edges of EDGE_STAMPS take exactly the lines on
    each side (T0 and T0 + BUCKET start buckets: ids tell those instants apart)."""
    edges = [(ts, m) for ts, m in _shown(store, "pod=edge-0") if m.startswith(tag)]
    for bound in (T0, T0 + BUCKET):
        since = _shown(store, f"pod=edge-0 since:{ts_text(bound)}")
        until = _shown(store, f"pod=edge-0 until:{ts_text(bound)}")
        assert [x for x in since if x[1].startswith(tag)] == [x for x in edges if x[0] >= bound]
        assert [x for x in until if x[1].startswith(tag)] == [x for x in edges if x[0] < bound]


def test_a_schema_7_store_shows_exact_times_and_takes_new_lines(tmp_path: Path) -> None:
    db = _v7_copy(tmp_path)
    store = Store.open(db)  # migrates to schema 8, its rows as they are
    old = _stamped(v7_store.records())
    shown = _shown(store, "")
    # Every line at its instant, in time order (lines on one instant in arrival order).
    assert Counter(shown) == Counter(old)
    assert [ts for ts, _ in shown] == sorted(ts for ts, _ in old)
    _assert_edges_bound_exactly(store, "edge line")
    # It takes new lines at awkward instants, shown exactly beside the old ones.
    new = _edge_records("new")
    write(store, Batch(new))
    shown = _shown(store, "pod=edge-0")
    assert [x for x in shown if x[1].startswith("new")] == sorted(_stamped(new), key=lambda x: x[0])
    assert len(shown) == 2 * len(EDGE_STAMPS)
    _assert_edges_bound_exactly(store, "new")
    _assert_edges_bound_exactly(store, "edge line")
    # A damaged copy's pages give every line back at its instant.
    assert Counter((ln.ts, ln.message) for ln in read_rows(db).lines.values()) == Counter(
        old + _stamped(new)
    )


@pytest.fixture(scope="module")
def new_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("ts") / "new.db")
    dense = _dense_records()
    write(
        store,
        Batch(_edge_records("edge line")),
        *(Batch(dense[at : at + 5_000]) for at in range(0, len(dense), 5_000)),
    )
    return store


def test_a_new_store_shows_exact_times_on_edges_and_where_ids_clamp(new_store: Store) -> None:
    shown = _shown(new_store, "pod=edge-0")
    assert shown == sorted(_stamped(_edge_records("edge line")), key=lambda x: x[0])
    _assert_edges_bound_exactly(new_store, "edge line")
    past = _shown(new_store, "pod=edge-0 since:2099-12-31T23:59:59.999999999Z")
    assert [ts for ts, _ in past] == EDGE_STAMPS[-2:]


def test_a_source_whose_first_lines_are_in_the_last_10_us_before_1970_is_shown(
    tmp_path: Path,
) -> None:
    # That bucket is -1, which the writer's slot state also used for "no bucket yet".
    store = Store.open(tmp_path / "store.db")
    key = SourceKey("shop", "epoch-0", "app", 0, "uid-epoch-0")
    records = [Record(ts, key, Stream.STDOUT, f"at {ts}", 0) for ts in (-5, -4, 0)]
    write(store, Batch(records))
    assert _shown(store, "pod=epoch-0") == _stamped(records)


def test_lines_whose_ids_leave_their_bucket_keep_their_instant(new_store: Store) -> None:
    reader = new_store.reader()
    try:
        lines = reader.oldest("pod=dense-0", 10**6)
    finally:
        reader.close()
    assert [(ln.ts, ln.message) for ln in lines] == _stamped(_dense_records())
    assert lines[-1].id >> 15 > lines[0].id >> 15  # the later ones are in later buckets
    assert len(_shown(new_store, f"pod=dense-0 since:{ts_text(DENSE_TS)}")) == DENSE_LINES


def test_recovery_reads_exact_times_from_a_new_stores_pages(new_store: Store) -> None:
    got = Counter((ln.ts, ln.message) for ln in read_rows(new_store.path).lines.values())
    assert got == Counter(_stamped(_edge_records("edge line")) + _stamped(_dense_records()))
