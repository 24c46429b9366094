"""The file collector's sources take what a feed says about pods (labels, workload) in
either order with the files: told before a source is seen, or after; matched by uid,
by name where a path has no uid, and a pod recreated under its name is another pod."""

from __future__ import annotations

import pytest

from klogtui.collect.batching import BatchBuilder
from klogtui.collect.files import sources as sources_module
from klogtui.collect.files.sources import Sources
from klogtui.collect.pod_meta import PodMeta
from klogtui.model import SourceInfo, SourceKey


def told(batch: BatchBuilder) -> dict[SourceKey, tuple[object, ...]]:
    """The labels and workload the batch says per source (the last word on each)."""
    taken = batch.take()
    infos: list[SourceInfo] = list(taken.sources) if taken is not None else []
    return {
        i.key: (i.labels, i.workload_kind, i.workload)
        for i in infos
        if i.workload is not None or i.labels is not None
    }


def meta(uid: str, name: str, workload: str, **labels: str) -> PodMeta:
    return PodMeta(uid, "shop", name, labels, "StatefulSet", workload)


def test_a_pod_told_before_or_after_its_files_reaches_every_source() -> None:
    batch = BatchBuilder(1000, 1.0)
    sources = Sources("node-1", batch)
    early = SourceKey("shop", "db-0", "postgres", 0, "u1")
    sources.note_pod(meta("u1", "db-0", "db", app="db"))
    sources.note_state(early, "running")
    assert told(batch) == {early: ({"app": "db"}, "StatefulSet", "db")}
    # Files first, then the pod (and a label change later).
    late = SourceKey("shop", "web-0", "app", 0, "u2")
    restarted = late._replace(restart=1)
    sources.note_state(late, "terminated")
    sources.note_state(restarted, "running")
    assert told(batch) == {}
    sources.note_pod(meta("u2", "web-0", "web", app="web"))
    assert told(batch) == {
        late: ({"app": "web"}, "StatefulSet", "web"),
        restarted: ({"app": "web"}, "StatefulSet", "web"),
    }


def test_a_pod_recreated_under_its_name_is_matched_by_uid() -> None:
    batch = BatchBuilder(1000, 1.0)
    sources = Sources("node-1", batch)
    old = SourceKey("shop", "db-0", "postgres", 0, "old-uid")
    no_uid = SourceKey("shop", "db-0", "postgres", 0, "")  # a containers/ link alone
    sources.note_state(old, "deleted")
    sources.note_state(no_uid, "running")
    batch.take()
    sources.note_pod(meta("new-uid", "db-0", "db"))
    assert set(told(batch)) == {no_uid}  # not the old pod's sources


def test_metadata_kept_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources_module, "_PODS_KEPT", 3)
    batch = BatchBuilder(1000, 1.0)
    sources = Sources("node-1", batch)
    for i in range(5):
        sources.note_pod(meta(f"u{i}", f"p-{i}", f"w{i}"))
    for i in range(5):
        sources.note_state(SourceKey("shop", f"p-{i}", "c", 0, f"u{i}"), "running")
    # The two told first were let go; the three newest still reach their sources.
    assert {k.pod for k in told(batch)} == {"p-2", "p-3", "p-4"}
