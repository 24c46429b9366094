"""The file collector given API access: its node's pods, watched through the API double
over HTTP, give the sources read from real files (real inotify, a real store) their
labels and workload, and a label change reaches the store; a pod of another node is
not asked for. Without access to the API the files are collected all the same."""

from __future__ import annotations

import os
import time
from pathlib import Path

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.connect import connect
from klogtui.collect.kube.node_pods import NodePods
from klogtui.collect.kube.pods import WatchTimings
from klogtui.collect.pod_meta import FixedPods, PodMeta
from tests.helpers_files import Container, Run, lines, sources
from tests.kube_double import KubeDouble
from tests.kube_double.workloads import add_owned_pod
from tests.waiting import wait_for

FAST_WATCH = WatchTimings(
    watch_timeout_s=30, read_margin_s=2, backoff_base_s=0.05, backoff_max_s=0.3
)


def node_pods(double: KubeDouble, tmp_path: Path, stats: CollectorStats) -> NodePods:
    kubeconfig = double.kubeconfig(tmp_path / "kubeconfig")
    api = connect(str(kubeconfig), None, False, pool_size=2, connect_timeout=5)
    return NodePods(api, "node-1", stats, FAST_WATCH)


def test_sources_get_their_pods_labels_and_workload(double: KubeDouble, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    c = double.cluster
    deploy = [("Deployment", "web"), ("ReplicaSet", "web-7d9f8c6b5")]
    web_uid = add_owned_pod(c, "shop", "web-7d9f8c6b5-x2x9k", deploy, labels={"app": "web"})
    db_uid = add_owned_pod(c, "shop", "db-0", [("StatefulSet", "db")], labels={"app": "db"})
    add_owned_pod(c, "shop", "far-away", [("DaemonSet", "agent")], node="node-2")
    web = Container(logs, "shop", "web-7d9f8c6b5-x2x9k", web_uid)
    db = Container(logs, "shop", "db-0", db_uid)
    web.append(lines(range(5)))
    stats = CollectorStats()
    with Run(logs, tmp_path / "db", pods=node_pods(double, tmp_path, stats)).caught_up() as run:
        db.append(lines(range(3)))  # a pod whose files appear after its metadata
        run.wait_seqs(list(range(5)), web.key())
        run.wait_seqs(list(range(3)), db.key())

        def enriched() -> bool:
            assert run.writer.flush(10)
            got = sources(run.store)
            return web.key() in got and db.key() in got and all(s.workload for s in got.values())

        wait_for(enriched, 10, "workloads stored")
        got = sources(run.store)
        assert (got[web.key()].workload_kind, got[web.key()].workload) == ("Deployment", "web")
        assert (got[db.key()].workload_kind, got[db.key()].workload) == ("StatefulSet", "db")
        assert got[web.key()].labels == {"app": "web"} and got[web.key()].node == "node-1"
        # The label queries read the labels the API gave.
        reader = run.store.reader()
        try:
            assert len(reader.newest("app=web workload=web kind=deployment", 100)) == 5
        finally:
            reader.close()
        # A label changes: the store follows.
        with c.cond:
            c.pods[("shop", "db-0")].labels["tier"] = "data"
        c.touch("shop", "db-0")

        def relabelled() -> bool:
            assert run.writer.flush(10)
            return sources(run.store)[db.key()].labels == {"app": "db", "tier": "data"}

        wait_for(relabelled, 10, "new label stored")
        assert stats.snapshot().errors == ()
    # Only this node's pods were asked for.
    asked = c.requests_to("/api/v1/pods")
    assert asked and all(q.get("fieldSelector") == ["spec.nodeName=node-1"] for q in asked)


def test_without_access_to_pods_the_files_are_collected_and_the_reason_said(
    double: KubeDouble, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    double.cluster.forbid_cluster_scope = True
    web = Container(logs, "shop", "web-1", "uid-1")
    web.append(lines(range(5)))
    stats = CollectorStats()
    with Run(logs, tmp_path / "db", pods=node_pods(double, tmp_path, stats)).caught_up() as run:
        run.wait_seqs(list(range(5)), web.key())
        wait_for(lambda: stats.snapshot().errors, 10, "the refusal said")
        message = stats.snapshot().errors[0].message
        assert "not allowed to list pods" in message and "403 Forbidden" in message
        assert (sources(run.store)[web.key()].workload, run.collector.failure) == ("", None)


def _thread_cpu_s(native_id: int) -> float:
    """CPU seconds (user + system) a thread of this process has used, from /proc."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_pod_feed_leaves_the_collector_idle_between_lines(tmp_path: Path) -> None:
    """A feed wakes the collector's thread to take what it told; the wake is taken too.
    (It was not: the pipe stayed readable, every wait ended at once, and the spinning
    thread starved the writer of the GIL: the demo's store fell minutes behind.)"""
    logs = tmp_path / "logs"
    web = Container(logs, "shop", "web-0", "u1")
    web.append(lines(range(5)))
    feed = FixedPods([PodMeta("u1", "shop", "web-0", {"app": "web"}, "StatefulSet", "web")])
    with Run(logs, tmp_path / "db", pods=feed).caught_up() as run:
        wait_for(
            lambda: [s.workload for s in sources(run.store).values()] == ["web"],
            what="the workload stored",
        )
        thread = run.collector._thread
        assert thread is not None and thread.native_id is not None
        before = _thread_cpu_s(thread.native_id)
        time.sleep(1.0)  # the window measured, not a wait for a condition
        spent = _thread_cpu_s(thread.native_id) - before
        # Idle, it wakes for its timers a few times a second; spinning, it takes a core.
        assert spent < 0.3, spent
        web.append(lines(range(5, 8)))
        wait_for(lambda: len(run.stored()) == 8, what="new lines stored")
