"""Workloads in the store (schema 5): each source's owning workload kind and name, the
`workload=` and `kind=` query keys over them, and a schema 4 store migrated with every
line, label and field kept."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

import pytest

from klogtui.model import Batch, Record, SourceInfo, SourceKey
from klogtui.store import Store
from klogtui.store.recovery import recover
from klogtui.store.schema import SCHEMA_VERSION
from tests.store_helpers import assert_index_exact

# Written by the store writer of commit 05c621a (schema 4): 1500 lines from 3 pods of
# namespace shop labelled app=web, tier=front; one line in 5 with fields ({"n": i}).
V4_STORE = Path(__file__).parent.parent / "corpus" / "store_v4.db.gz"
T0 = 1_764_000_000_000_000_000

# (namespace, pod, workload kind, workload): one source each, one line each.
PODS = [
    ("shop", "web-7d9f8c6b5-x2x9k", "Deployment", "web"),
    ("shop", "web-7d9f8c6b5-q8r2m", "Deployment", "web"),
    ("shop", "webhook-0", "StatefulSet", "webhook"),
    ("shop", "report-28900000-abcde", "CronJob", "report"),
    ("kube-system", "fluent-bit-z9x8c", "DaemonSet", "fluent-bit"),
    ("default", "debug", "Pod", "debug"),
    ("default", "unknown-1", "", ""),  # stored by a collector without API access
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("workloads") / "w.db")
    writer = store.start_writer()
    keys = [SourceKey(ns, pod, "app", 0, f"uid-{pod}") for ns, pod, _, _ in PODS]
    infos = [
        SourceInfo(k, node="node-1", workload_kind=kind or None, workload=name or None)
        for k, (_, _, kind, name) in zip(keys, PODS, strict=True)
    ]
    records = [Record(T0 + i * 1000, k, 1, f"line of {k.pod}") for i, k in enumerate(keys)]
    writer.submit(Batch(records=records, sources=infos))
    assert writer.flush()
    writer.close()
    return store


def _pods(store: Store, query: str) -> set[str]:
    reader = store.reader()
    try:
        return {s.pod for ln in reader.newest(query, 100) if (s := reader.source(ln.source_id))}
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("query", "pods"),
    [
        ("workload=web", {"web-7d9f8c6b5-x2x9k", "web-7d9f8c6b5-q8r2m"}),
        ("workload=web*", {"web-7d9f8c6b5-x2x9k", "web-7d9f8c6b5-q8r2m", "webhook-0"}),
        ("workload=~^fluent", {"fluent-bit-z9x8c"}),
        ("kind=Deployment", {"web-7d9f8c6b5-x2x9k", "web-7d9f8c6b5-q8r2m"}),
        ("kind=deployment", {"web-7d9f8c6b5-x2x9k", "web-7d9f8c6b5-q8r2m"}),  # any case
        ("kind=cronjob", {"report-28900000-abcde"}),
        ("kind=pod", {"debug"}),
        ("kind=*set ns=shop", {"webhook-0"}),
        # Not known is not a match: only != selects it, as a missing label.
        ("workload=*", {p for _, p, _, w in PODS if w}),
        ("workload!=web ns=default", {"debug", "unknown-1"}),
        ("kind!=Deployment ns=shop", {"webhook-0", "report-28900000-abcde"}),
        (
            "workload=web OR kind=DaemonSet",
            {"web-7d9f8c6b5-x2x9k", "web-7d9f8c6b5-q8r2m", "fluent-bit-z9x8c"},
        ),
    ],
)
def test_workload_and_kind_select_the_pods_of_a_workload(
    store: Store, query: str, pods: set[str]
) -> None:
    assert _pods(store, query) == pods


def test_the_workload_is_read_back_with_the_source(store: Store) -> None:
    reader = store.reader()
    try:
        got = {s.pod: (s.workload_kind, s.workload) for s in reader.sources()}
    finally:
        reader.close()
    assert got == {pod: (kind, name) for _, pod, kind, name in PODS}


def test_a_schema_4_store_is_migrated_keeping_lines_labels_and_fields(tmp_path: Path) -> None:
    db = tmp_path / "v4.db"
    with gzip.open(V4_STORE, "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
    conn.close()
    store = Store.open(db)
    reader = store.reader()
    try:
        lines = reader.oldest("", 10**6)
        by_label = reader.newest("app=web tier=front served", 10**6)
        sources = reader.sources()
    finally:
        reader.close()
    assert len(lines) == 1500 and len(by_label) == 1500
    assert [ln.message for ln in lines] == [f"request {i} served" for i in range(1500)]
    assert sum(ln.fields is not None for ln in lines) == 300
    assert {(s.workload_kind, s.workload) for s in sources} == {("", "")}  # not known yet
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    conn.close()
    assert SCHEMA_VERSION == 8
    assert_index_exact(db)
    # The migrated store takes workloads like a new one.
    writer = store.start_writer()
    key = SourceKey("shop", "web-7d9f8c6b5-a", "app", 0, "uid-a")
    writer.submit(Batch(sources=[SourceInfo(key, workload_kind="Deployment", workload="web")]))
    assert writer.flush()
    writer.close()
    assert len(_pods(store, "kind=deployment workload=web")) == 1


@pytest.mark.parametrize("damage", ["none", "garbled header"])
def test_recovery_keeps_each_sources_workload(store: Store, tmp_path: Path, damage: str) -> None:
    # A copy of the module's store, closed (its WAL folded in), damaged or not.
    db = tmp_path / "copy.db"
    src = sqlite3.connect(store.path)
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    if damage == "garbled header":
        data = bytearray(db.read_bytes())
        data[:100] = bytes(100)
        db.write_bytes(data)
    salvage = recover(db)
    assert salvage.lines == len(PODS)
    reader = Store.open(db).reader()
    try:
        got = {s.pod: (s.workload_kind, s.workload) for s in reader.sources()}
    finally:
        reader.close()
    assert got == {pod: (kind, name) for _, pod, kind, name in PODS}
