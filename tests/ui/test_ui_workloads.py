"""The sources tree's workload level, driven by Pilot: namespaces > workloads > pods >
containers where a collector told the workload, pods right under their namespace where
none did (or the pod is its own), and choosing a workload narrows the query to it."""

from __future__ import annotations

from pathlib import Path

from klogtui.model import Batch, Record, SourceInfo, SourceKey
from klogtui.store import Store
from klogtui.ui.app import KlogApp
from tests.store_helpers import SEC, T0
from tests.ui_fixtures import FIXED_NOW, settle, text_of

# (namespace, pod, container, workload kind, workload)
PODS = [
    ("shop", "web-7d9f8-a1", "app", "Deployment", "web"),
    ("shop", "web-7d9f8-b2", "app", "Deployment", "web"),
    ("shop", "db-0", "postgres", "StatefulSet", "db"),
    ("shop", "debug", "sh", "Pod", "debug"),  # a pod of its own
    ("kube-system", "fluent-bit-x9", "fluent-bit", "DaemonSet", "fluent-bit"),
    ("kube-system", "static-1", "etcd", "", ""),  # no collector said
]


def build_store(path: Path) -> Store:
    store = Store.open(path)
    keys = [SourceKey(ns, pod, c, 0, f"uid-{pod}") for ns, pod, c, _, _ in PODS]
    infos = [
        SourceInfo(k, state="running", workload_kind=kind or None, workload=name or None)
        for k, (_, _, _, kind, name) in zip(keys, PODS, strict=True)
    ]
    records = [
        Record(T0 + (i * len(keys) + j) * SEC, k, 1, f"{k.pod} says {i}")
        for i in range(2)
        for j, k in enumerate(keys)
    ]
    writer = store.start_writer()
    try:
        writer.submit(Batch(records=records, sources=infos))
        assert writer.flush(30)
    finally:
        writer.close()
    return store


async def test_pods_sit_under_their_workload_and_choosing_one_narrows_the_query(
    tmp_path: Path,
) -> None:
    app = KlogApp(build_store(tmp_path / "w.db"), now_ns=FIXED_NOW, history_path=None)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        tree = app.sources_tree

        def labels(node: object) -> list[str]:
            return [str(child.label) for child in node.children]  # type: ignore[attr-defined]

        assert labels(tree.root) == ["kube-system 4", "shop 8"]
        kube_system, shop = tree.root.children
        assert labels(shop) == ["○ db sts 2", "○ debug 2", "○ web deploy 4"]  # by name
        assert labels(kube_system) == ["○ fluent-bit ds 2", "○ static-1 2"]
        web = shop.children[2]
        assert web.is_expanded and labels(web) == ["○ web-7d9f8-a1 2", "○ web-7d9f8-b2 2"]
        assert labels(web.children[0]) == ["○ app 2"]

        # Down from the root to the web Deployment (kube-system, its workload fluent-bit
        # and pod, static-1; shop, db and its pod, debug), then Enter.
        tree.focus()
        tree.move_cursor(tree.root)
        await pilot.press(*["down"] * 9)
        assert tree.cursor_node is web
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_bar.value == "namespace=shop workload=web"
        shown = {app.log_view.source_of(ln).pod for ln in app.log_view.window}  # type: ignore[union-attr]
        assert shown == {"web-7d9f8-a1", "web-7d9f8-b2"}
        # The other workloads are dimmed.
        assert any(s.style == "dim" for s in shop.children[0].label.spans)  # type: ignore[union-attr]

        # One of its pods: the pod says more than the workload, which leaves the query.
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.query_bar.value == "namespace=shop pod=web-7d9f8-a1"
        shown = {app.log_view.source_of(ln).pod for ln in app.log_view.window}  # type: ignore[union-attr]
        assert shown == {"web-7d9f8-a1"}

        # A line's detail names its workload.
        app.log_view.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "workload      web (Deployment)" in text_of(app.screen.query_one("#detail-meta"))
