"""Remote mode end to end: the Kubernetes API double -> KubeCollector -> the real store.

Every test compares the exact lines stored per container instance (in stored order)
with the numbered lines the double emitted: nothing lost, nothing twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from klogtui.collect.kube.collector import KubeTimings
from klogtui.collect.kube.pods import WatchTimings
from klogtui.collect.kube.stream import StreamTimings
from klogtui.model import Flag
from klogtui.store import Store
from tests.kube_double import KubeDouble
from tests.kube_double.workloads import add_owned_pod
from tests.kube_run import FAST, NS, Run, seqs, settle, sources, stored
from tests.waiting import wait_for

# --------------------------------------------------------------------------- streaming


def test_every_line_of_running_containers_stored_once(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.chunk_size = 5  # every line and multi-byte character split across chunks
    c.add_pod("shop", "web-1", ["app", "sidecar"], labels={"app": "web"}, node="node-a")
    c.add_pod("pay", "api-1", ["app"], labels={"app": "api"}, node="node-b")
    c.emit("shop", "web-1", "app", 30, "web")
    c.log("shop", "web-1", "sidecar", "grüße ✓ 日本語 🚀 ok")
    c.log("shop", "web-1", "sidecar", b"bad \xff utf8\r")
    c.emit("pay", "api-1", "app", 5, "api")
    r = run(namespaces=["shop", "pay"]).start()
    c.emit("shop", "web-1", "app", 20, "web")
    c.emit("pay", "api-1", "app", 5, "api")
    settle(
        store,
        {
            "shop/web-1/app#0": seqs("web", range(50)),
            "shop/web-1/sidecar#0": ["grüße ✓ 日本語 🚀 ok", "bad \\xff utf8"],
            "pay/api-1/app#0": seqs("api", range(10)),
        },
    )
    src = sources(store)["shop/web-1/app#0"]
    assert (src.node, src.labels, src.state) == ("node-a", {"app": "web"}, "running")
    assert src.container_id.startswith("containerd://")
    assert r.errors() == []


def test_sources_carry_their_pods_workload_and_queries_select_by_it(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    deploy = [("Deployment", "web"), ("ReplicaSet", "web-7d9f8c6b5")]
    add_owned_pod(c, "shop", "web-7d9f8c6b5-x2x9k", deploy, labels={"app": "web"})
    add_owned_pod(c, "shop", "report-2890-q", [("CronJob", "report"), ("Job", "report-2890")])
    c.add_pod("shop", "debug")
    for pod in ("web-7d9f8c6b5-x2x9k", "report-2890-q", "debug"):
        c.emit("shop", pod, "app", 2, pod)
    r = run(namespaces=["shop"]).start()
    settle(
        store,
        {
            f"shop/{pod}/app#0": seqs(pod, range(2))
            for pod in ("web-7d9f8c6b5-x2x9k", "report-2890-q", "debug")
        },
    )
    workloads = {k: (s.workload_kind, s.workload) for k, s in sources(store).items()}
    assert workloads == {
        "shop/web-7d9f8c6b5-x2x9k/app#0": ("Deployment", "web"),
        "shop/report-2890-q/app#0": ("CronJob", "report"),
        "shop/debug/app#0": ("Pod", "debug"),
    }
    assert sources(store)["shop/web-7d9f8c6b5-x2x9k/app#0"].labels == {"app": "web"}
    reader = store.reader()
    try:
        assert [ln.message for ln in reader.oldest("workload=web kind=deployment", 10)] == seqs(
            "web-7d9f8c6b5-x2x9k", range(2)
        )
        assert len(reader.oldest("kind=cronjob", 10)) == 2
    finally:
        reader.close()
    assert r.errors() == []


def test_all_namespaces_with_selector_follows_only_matching_pods(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("a", "web-1", labels={"app": "web"})
    c.add_pod("b", "web-2", labels={"app": "web", "tier": "edge"})
    c.add_pod("b", "db-1", labels={"app": "db"})
    for ns, pod in (("a", "web-1"), ("b", "web-2"), ("b", "db-1")):
        c.emit(ns, pod, "app", 3, pod)
    run(all_namespaces=True, selector="app in (web)").start()
    c.add_pod("c", "web-3", labels={"app": "web"})
    c.emit("c", "web-3", "app", 2, "web-3")
    settle(
        store,
        {
            "a/web-1/app#0": seqs("web-1", range(3)),
            "b/web-2/app#0": seqs("web-2", range(3)),
            "c/web-3/app#0": seqs("web-3", range(2)),
        },
    )
    assert not any(k.startswith("b/db-1") for k in sources(store))
    # One cluster-wide list and watch, no per-namespace requests.
    assert c.requests_to("/api/v1/pods")
    assert not c.requests_to("/namespaces/a/pods")


def test_since_bounds_the_first_read(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    now = time.time_ns()
    c.log("shop", "web-1", "app", "two hours ago", now - 7200 * NS)
    c.log("shop", "web-1", "app", "ten minutes ago", now - 600 * NS)
    run(namespaces=["shop"], since_s=1800).start()
    settle(store, {"shop/web-1/app#0": ["ten minutes ago"]})


def test_init_container_and_finished_container_keep_their_history(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("jobs", "job-1", ["main"], init_containers=("setup",), restart_on_exit=False)
    c.start("jobs", "job-1", "setup")
    c.emit("jobs", "job-1", "setup", 4, "setup")
    c.finish("jobs", "job-1", "setup")
    c.emit("jobs", "job-1", "main", 3, "main")
    run(namespaces=["jobs"]).start()
    c.emit("jobs", "job-1", "main", 3, "main")
    c.finish("jobs", "job-1", "main", exit_code=0)
    settle(
        store,
        {
            "jobs/job-1/setup#0": seqs("setup", range(4)),
            "jobs/job-1/main#0": seqs("main", range(6)),
        },
    )
    wait_for(lambda: sources(store)["jobs/job-1/main#0"].state == "terminated")
    assert sources(store)["jobs/job-1/main#0"].reason == "Completed"
    assert sources(store)["jobs/job-1/setup#0"].state == "terminated"


def test_container_that_starts_later_is_followed(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "slow-1", start=False)
    r = run(namespaces=["shop"]).start()
    assert sources(store) == {}  # nothing ran yet, nothing to show
    c.start("shop", "slow-1", "app")
    c.emit("shop", "slow-1", "app", 5, "slow")
    settle(store, {"shop/slow-1/app#0": seqs("slow", range(5))})
    assert r.errors() == []


# --------------------------------------------------------------------------- restarts


def test_restart_keeps_both_instances_exactly(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.emit("shop", "web-1", "app", 10, "web")
    run(namespaces=["shop"]).start()
    c.emit("shop", "web-1", "app", 10, "web")
    c.restart("shop", "web-1", "app")
    c.emit("shop", "web-1", "app", 10, "web")
    settle(
        store,
        {
            "shop/web-1/app#0": seqs("web", range(20)),
            "shop/web-1/app#1": seqs("web", range(20, 30)),
        },
    )
    src = sources(store)
    assert (src["shop/web-1/app#0"].state, src["shop/web-1/app#0"].reason) == (
        "terminated",
        "Error",
    )
    assert src["shop/web-1/app#1"].state == "running"


def test_end_of_previous_instance_is_fetched_with_previous_true(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    """The old instance's last lines were never streamed (its stream went silent); after
    the restart only previous=true can return them."""
    c = double.cluster
    c.add_pod("shop", "web-1")
    run(namespaces=["shop"]).start()
    c.emit("shop", "web-1", "app", 5, "web")
    wait_for(lambda: len(stored(store).get("shop/web-1/app#0", [])) == 5)
    assert c.silence_streams("shop", "web-1") == 1
    c.emit("shop", "web-1", "app", 7, "web")  # unseen so far
    c.restart("shop", "web-1", "app")
    c.emit("shop", "web-1", "app", 3, "web")
    settle(
        store,
        {
            "shop/web-1/app#0": seqs("web", range(12)),
            "shop/web-1/app#1": seqs("web", range(12, 15)),
        },
    )
    assert any(q.get("previous") == ["true"] for q in c.requests_to("/web-1/log"))


def test_crash_loop_reads_the_dead_instance_and_the_next(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "crashy")
    c.emit("shop", "crashy", "app", 4, "boot")
    c.crash("shop", "crashy", "app")  # waiting: CrashLoopBackOff, log shows instance 0
    run(namespaces=["shop"]).start()
    settle(store, {"shop/crashy/app#0": seqs("boot", range(4))})
    assert sources(store)["shop/crashy/app#0"].reason == "CrashLoopBackOff"
    c.start("shop", "crashy", "app")
    c.emit("shop", "crashy", "app", 4, "boot")
    settle(
        store,
        {
            "shop/crashy/app#0": seqs("boot", range(4)),
            "shop/crashy/app#1": seqs("boot", range(4, 8)),
        },
    )


def test_pod_seen_after_restarts_gets_its_previous_instance(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.emit("shop", "web-1", "app", 3, "old")
    c.restart("shop", "web-1", "app")
    c.emit("shop", "web-1", "app", 3, "new")
    run(namespaces=["shop"]).start()
    settle(
        store,
        {
            "shop/web-1/app#0": seqs("old", range(3)),
            "shop/web-1/app#1": seqs("new", range(3, 6)),
        },
    )


# --------------------------------------------------------------------------- faults


def test_connection_drops_mid_line_lose_and_duplicate_nothing(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.chunk_size = 11
    for i in range(3):
        c.add_pod("shop", f"web-{i}")
    r = run(namespaces=["shop"]).start()
    expected: dict[str, list[str]] = {f"shop/web-{i}/app#0": [] for i in range(3)}
    for round_ in range(6):
        wait_for(lambda: c.open_log_streams("shop") == 3, what="streams open")
        assert c.break_streams("shop") == 3
        for i in range(3):
            numbers = c.emit("shop", f"web-{i}", "app", 8, f"web-{i} round={round_}")
            expected[f"shop/web-{i}/app#0"] += [f"web-{i} round={round_} seq={k}" for k in numbers]
        settle(store, expected)
    assert any("log stream broke" in e for e in r.errors())


def test_silent_stream_is_reconnected_after_the_read_timeout(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    run(namespaces=["shop"]).start()
    c.emit("shop", "web-1", "app", 3, "web")
    wait_for(lambda: len(stored(store).get("shop/web-1/app#0", [])) == 3)
    assert c.silence_streams("shop", "web-1") == 1
    before = len(c.requests_to("/web-1/log"))
    c.emit("shop", "web-1", "app", 5, "web")
    settle(store, {"shop/web-1/app#0": seqs("web", range(8))}, timeout=5)
    reconnect = c.requests_to("/web-1/log")[before]
    assert reconnect.get("follow") == ["true"] and "sinceTime" in reconnect


@pytest.mark.parametrize("as_event", [True, False], ids=["error-event", "http-status"])
def test_410_gone_relists_and_reconciles(
    double: KubeDouble, store: Store, run: Callable[..., Run], as_event: bool
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.add_pod("shop", "web-2")
    c.emit("shop", "web-1", "app", 2, "one")
    r = run(namespaces=["shop"]).start()
    with c.lock:
        # Both changes land in history that is compacted away at once: only a re-list
        # can tell the collector about them.
        c.delete_pod("shop", "web-2")
        c.add_pod("shop", "web-3")
        c.emit("shop", "web-3", "app", 4, "three")
        c.expire_watches(as_event=as_event)
    settle(
        store,
        {
            "shop/web-1/app#0": seqs("one", range(2)),
            "shop/web-3/app#0": seqs("three", range(4)),
        },
    )
    wait_for(lambda: sources(store)["shop/web-2/app#0"].state == "deleted", what="deleted")
    assert r.collector.counts()["lists"] == 2
    watches = [q for q in c.requests_to("/namespaces/shop/pods") if q.get("watch")]
    assert len(watches) >= 2


def test_bookmarks_and_watch_timeouts_resume_without_relisting(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.bookmark_interval_s = 0.05
    timings = KubeTimings(
        connect_timeout_s=2.0,
        batch_delay_s=0.03,
        stream=FAST.stream,
        watch=WatchTimings(
            watch_timeout_s=1, read_margin_s=1.0, backoff_base_s=0.05, backoff_max_s=0.3
        ),
    )
    c.add_pod("shop", "web-1")
    c.add_pod("other", "noise-1")
    r = run(namespaces=["shop"], timings=timings).start()
    for _ in range(8):
        c.touch("other", "noise-1")  # moves the version on, invisible to our watch
        time.sleep(0.05)
    c.end_watches()  # the server closes every watch, as on its timeout
    time.sleep(1.2)  # ... and its own timeoutSeconds=1 ends the next one
    c.add_pod("shop", "web-2")
    c.emit("shop", "web-2", "app", 3, "two")
    settle(store, {"shop/web-2/app#0": seqs("two", range(3))})
    assert r.collector.counts()["lists"] == 1
    watches = [q for q in c.requests_to("/namespaces/shop/pods") if q.get("watch")]
    assert len(watches) >= 3
    assert all(q["allowWatchBookmarks"] == ["true"] for q in watches)
    versions = [int(q["resourceVersion"][0]) for q in watches]
    # Re-watches start past the noise pod's versions, which only bookmarks reported.
    assert versions == sorted(versions) and versions[-1] > versions[0] + 4


def test_pod_churn_every_line_of_every_pod(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_namespace("churn")
    run(namespaces=["churn"]).start()
    pods, lines_each = 24, 6
    churner = c.churn("churn", pods, lines_each, life_s=0.12, gap_s=0.02, grace_s=0.4)
    churner.join(30)
    settle(
        store,
        {f"churn/churn-{i}/app#0": seqs(f"churn-{i}", range(lines_each)) for i in range(pods)},
    )
    wait_for(lambda: all(s.state == "deleted" for s in sources(store).values()), what="all deleted")
    assert len(sources(store)) == pods
    # Deleted pods leave no checkpoints behind.
    wait_for(lambda: store.load_checkpoints("kube:") == {}, what="checkpoints dropped")


def test_more_containers_than_max_streams_take_turns(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    n = 10
    for i in range(n):
        c.add_pod("shop", f"web-{i}")
        c.emit("shop", f"web-{i}", "app", 2, f"web-{i}")
    peak = 0
    stop = threading.Event()
    r = run(namespaces=["shop"], max_streams=3).start()

    def producer() -> None:
        nonlocal peak
        while not stop.is_set():
            for i in range(n):
                c.emit("shop", f"web-{i}", "app", 1, f"web-{i}")
            peak = max(peak, r.collector.counts()["open_streams"])
            time.sleep(0.02)

    t = threading.Thread(target=producer)
    t.start()
    time.sleep(2.0)
    stop.set()
    t.join()
    expected = {
        f"shop/web-{i}/app#0": seqs(f"web-{i}", range(c.seq_of("shop", f"web-{i}", "app")))
        for i in range(n)
    }
    settle(store, expected, timeout=15)
    assert 0 < peak <= 3
    assert r.errors() == []


# --------------------------------------------------------------------------- resume


def test_resume_after_restart_stores_nothing_twice(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.emit("shop", "web-1", "app", 20, "web")  # all in one second
    first = run(namespaces=["shop"]).start()
    settle(store, {"shop/web-1/app#0": seqs("web", range(20))})
    first.stop()
    # Two equal lines in the very second (and at the very time) the checkpoint ends
    # in: skipping counts lines, not texts, so each must be stored once.
    last_ts = c.last_ts("shop", "web-1", "app")
    c.log("shop", "web-1", "app", "twin", last_ts)
    c.log("shop", "web-1", "app", "twin", last_ts)
    c.emit("shop", "web-1", "app", 10, "web")  # often the same second too
    served_before = len(c.log_served)
    second = run(namespaces=["shop"]).start()
    c.emit("shop", "web-1", "app", 5, "web")
    expected = seqs("web", range(20)) + ["twin", "twin"] + seqs("web", range(20, 35))
    settle(store, {"shop/web-1/app#0": expected})
    second.stop()
    # The resumed request replayed the stored second, and the collector skipped it.
    # (Not the start-up's check of pods/log access, which reads no lines: tailLines=0.)
    resume = [s for s in c.log_served[served_before:] if s[2].get("tailLines") != ["0"]][0]
    assert "sinceTime" in resume[2] and resume[3] >= 20 + 2 + 10
    assert second.errors() == []


def test_resume_after_crash_refetches_exactly_what_was_not_committed(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.emit("shop", "web-1", "app", 10, "web")
    first = run(namespaces=["shop"], dropping=True).start()
    settle(store, {"shop/web-1/app#0": seqs("web", range(10))})
    first.sink.cut_off = True  # from here on nothing reaches the store: the crash
    c.emit("shop", "web-1", "app", 10, "web")
    time.sleep(0.3)  # read (and lost) by the first collector
    first.stop()
    assert len(stored(store)["shop/web-1/app#0"]) == 10
    run(namespaces=["shop"]).start()
    settle(store, {"shop/web-1/app#0": seqs("web", range(20))})


def test_overlong_line_is_cut_at_a_character_and_flagged(
    double: KubeDouble, store: Store, tmp_path: Path
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.log("shop", "web-1", "app", "é" * 40)
    timings = KubeTimings(batch_delay_s=0.03, stream=StreamTimings(max_line_bytes=64))
    r = Run(double, store, tmp_path, namespaces=["shop"], timings=timings).start()
    try:
        wait_for(lambda: "shop/web-1/app#0" in stored(store))
        reader = store.reader()
        line = reader.oldest("", 10)[0]
        reader.close()
        # The 64-byte cap counts the timestamp prefix; the cut keeps whole characters.
        assert line.message.startswith("é" * 10) and line.message.endswith(" bytes]")
        assert "…[truncated" in line.message and line.flags & Flag.TRUNCATED
    finally:
        r.stop()
