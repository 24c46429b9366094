"""Remote mode at cluster scale: turn-taking, log rotation, dead nodes, stalled follows,
resume inside a rotated second, terminating pods.

Each test drives the API double over real HTTP into a real store and accounts for every
line the double's containers wrote: stored once, or inside the time range of a gap
marker stored for that container. Never silently missing.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from klogtui.collect.kube.collector import KubeTimings
from klogtui.collect.kube.pods import WatchTimings
from klogtui.collect.kube.stream import StreamTimings
from klogtui.gaps import GapRange, parse_gap
from klogtui.model import Flag
from klogtui.store import Store
from tests.kube_double import FakeCluster, KubeDouble
from tests.kube_run import Run
from tests.waiting import wait_for

NS = 1_000_000_000

TIMINGS = KubeTimings(
    connect_timeout_s=2.0,
    check_timeout_s=5.0,
    slice_s=0.4,
    batch_delay_s=0.03,
    stream=StreamTimings(
        read_timeout_s=30.0,  # a stalled follow must be found long before this
        backoff_base_s=0.05,
        backoff_max_s=0.3,
        eof_grace_s=0.3,
        poll_active_s=0.2,
        poll_quiet_s=0.5,
        stall_min_s=0.3,
        node_backoff_s=1.5,
        node_backoff_max_s=3.0,
    ),
    watch=WatchTimings(
        watch_timeout_s=30, read_margin_s=2.0, backoff_base_s=0.05, backoff_max_s=0.3
    ),
)


class Account:
    """What the store holds for one container instance, against what it wrote."""

    def __init__(self, store: Store, name: str, written: list[tuple[int, str]]) -> None:
        reader = store.reader()
        try:
            lines = reader.oldest("", 10_000_000)
            ids = {s.id for s in reader.sources() if str(s.key) == name}
        finally:
            reader.close()
        mine = [ln for ln in lines if ln.source_id in ids]
        self.messages = [ln.message for ln in mine if not ln.flags & Flag.GAP]
        self.gaps: list[GapRange] = []
        for ln in mine:
            if ln.flags & Flag.GAP:
                gap = parse_gap(ln.message)
                assert gap is not None, ln.message
                self.gaps.append(gap)
        have = set(self.messages)
        self.missing = [(ts, text) for ts, text in written if text not in have]
        self.unmarked = [
            (ts, text)
            for ts, text in self.missing
            if not any(g.start_ns <= ts <= g.end_ns for g in self.gaps)
        ]
        self.duplicates = len(self.messages) - len(have)


def account(store: Store, c: FakeCluster, ns: str, pod: str, container: str = "app") -> Account:
    return Account(store, f"{ns}/{pod}/{container}#0", c.written(ns, pod, container))


def holds(store: Store, c: FakeCluster, ns: str, pod: str, text: str) -> Callable[[], bool]:
    """A condition: the store holds this line of the pod's container."""
    return lambda: text in account(store, c, ns, pod).messages


def write(c: FakeCluster, ns: str, pod: str, texts: list[str], step_ns: int = 1000) -> None:
    """Write lines with distinct timestamps, all at once (nothing reads in between)."""
    with c.cond:
        base = time.time_ns()
        for k, text in enumerate(texts):
            c.log(ns, pod, "app", text, base + k * step_ns)


@pytest.fixture
def run(double: KubeDouble, store: Store, tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def make(stream: StreamTimings = TIMINGS.stream, slice_s: float = 0.4, **kw: Any) -> Run:
        timings = dataclasses.replace(TIMINGS, stream=stream, slice_s=slice_s)
        r = Run(double, store, tmp_path, timings=timings, **kw)
        runs.append(r)
        return r

    yield make
    for r in runs:
        r.stop()


def _query_jsonl(store: Store, query: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", "--db", str(store.path), "-o", "jsonl", query],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


# ----------------------------------------------------------------- 1: turn-taking, rotation


def test_lines_rotated_away_between_turns_are_marked_as_a_gap(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "quiet")
    c.add_pod("shop", "busy", rotate_bytes=1000)  # ~25 lines a file
    r = run(namespaces=["shop"], max_streams=1).start()
    write(c, "shop", "busy", [f"before {k}" for k in range(10)])
    wait_for(lambda: len(account(store, c, "shop", "busy").messages) == 10, what="first lines")
    wait_for(lambda: r.stats.snapshot().notice != "", what="turn-taking told")
    # A burst that rotates the file four times between two turns: the first files
    # are gone before anyone reads them.
    write(c, "shop", "busy", [f"burst {k}" for k in range(100)])
    write(c, "shop", "busy", ["after"])
    assert c.rotations("shop", "busy", "app") == 4
    wait_for(lambda: "after" in account(store, c, "shop", "busy").messages, what="after")
    got = account(store, c, "shop", "busy")
    assert got.missing and got.unmarked == [] and got.duplicates == 0
    assert len(got.gaps) == 1
    # The user sees it in `klogtui query -o jsonl`: an event of that source, flagged.
    (event,) = _query_jsonl(store, "pod=busy klogtui gap")
    assert event["flags"] == ["gap"] and event["container"] == "app"
    assert event["gap"]["from"] < event["gap"]["to"]
    assert event["message"].startswith("klogtui gap: lines from ")


def test_chatty_container_keeps_its_stream_while_quiet_ones_take_turns(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "chatty", rotate_bytes=2000)  # a rotation every ~25 lines
    # Gaps are found against the newest stored line: an instance must have one first
    # (what rotates away before an instance's first read leaves nothing to compare).
    write(c, "shop", "chatty", ["chatty first"])
    for i in range(6):
        c.add_pod("shop", f"quiet-{i}")
    r = run(namespaces=["shop"], max_streams=4).start()
    stop = threading.Event()

    def produce() -> None:
        k = 0
        while not stop.is_set():
            write(c, "shop", "chatty", [f"chatty {k + j}" for j in range(4)])
            k += 4
            for i in range(6):
                if k % 40 == 0:
                    write(c, "shop", f"quiet-{i}", [f"quiet-{i} {k}"])
            time.sleep(0.01)

    t = threading.Thread(target=produce)
    t.start()
    try:
        wait_for(
            lambda: "shop/chatty/app#0" in r.collector.pinned(),
            timeout=5,
            what="the chatty container pinned",
        )
        # Its next turn follows: from then on, rotations lose nothing.
        settled_at = time.time_ns() + NS
        wait_for(
            lambda: sum(ts > settled_at for ts, _ in c.written("shop", "chatty", "app")) >= 300,
            what="300 lines written after it kept its stream",
        )
    finally:
        stop.set()
        t.join()
    write(c, "shop", "chatty", ["chatty last"])
    wait_for(lambda: "chatty last" in account(store, c, "shop", "chatty").messages, what="last")
    chatty = account(store, c, "shop", "chatty")
    assert chatty.unmarked == [] and chatty.duplicates == 0
    assert [m for ts, m in chatty.missing if ts > settled_at] == []
    assert all(g.end_ns < settled_at for g in chatty.gaps)
    for i in range(6):
        name = f"quiet-{i}"
        last = c.written("shop", name, "app")[-1][1]
        wait_for(holds(store, c, "shop", name, last), what=name)
        quiet = account(store, c, "shop", name)
        assert quiet.missing == [] and quiet.duplicates == 0
    # The status line says so, and what to run instead at this size.
    notice = r.stats.snapshot().notice
    assert notice.startswith("taking turns: 7 containers > --max-streams 4")
    assert "klogtui collect on each node" in notice


# ------------------------------------------------------------------------ 7: dead node


def test_dead_node_is_left_alone_and_the_rest_go_on(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    for i in range(3):
        c.add_pod("shop", f"lost-{i}", node="node-dead")
        c.add_pod("shop", f"fine-{i}", node="node-ok")
    c.dead_nodes["node-dead"] = 0.4  # the API server's dial timeout, shrunk
    stream = dataclasses.replace(TIMINGS.stream, node_backoff_s=3.0, node_backoff_max_s=3.0)
    r = run(namespaces=["shop"], max_streams=2, stream=stream).start()
    wait_for(lambda: r.collector.nodes.down() != {}, what="node marked down")
    tried = _log_requests(c, "lost-")
    for round_ in range(2):
        for i in range(3):
            write(c, "shop", f"fine-{i}", [f"fine-{i} {round_}"])
        for i in range(3):
            text = f"fine-{i} {round_}"
            wait_for(
                holds(store, c, "shop", f"fine-{i}", text),
                timeout=1.0,
                what=f"{text} stored while node-dead is down",
            )
    # No container of the dead node asked again during its back-off.
    assert _log_requests(c, "lost-") == tried
    (err,) = [e for e in r.stats.snapshot().errors if e.where == "node node-dead"]
    assert "node-dead" in err.message and "does not answer" in err.message
    assert "i/o timeout" in err.message
    assert r.collector.counts()["nodes_down"] == 1
    # The node comes back: one probe finds it, and its containers are read again.
    for i in range(3):
        write(c, "shop", f"lost-{i}", [f"lost-{i} back"])
    del c.dead_nodes["node-dead"]
    for i in range(3):
        wait_for(
            holds(store, c, "shop", f"lost-{i}", f"lost-{i} back"),
            timeout=8,
            what=f"lost-{i} read after the node came back",
        )
    assert r.collector.nodes.down() == {}


def _log_requests(c: FakeCluster, prefix: str) -> int:
    with c.cond:
        return sum(1 for p, _ in c.requests if "/log" in p and f"/pods/{prefix}" in p)


# --------------------------------------------------------------- 8: resume, rotated second


def test_resume_inside_a_rotated_second_skips_only_stored_lines(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web")
    second = time.time_ns() // NS * NS
    with c.cond:
        for k in range(3):
            c.log("shop", "web", "app", f"stored {k}", second + k * 1000)
    first = run(namespaces=["shop"]).start()
    wait_for(lambda: len(account(store, c, "shop", "web").messages) == 3, what="stored")
    first.stop()
    # While klogtui is down, in that same second: a line, a rotation, more lines.
    with c.cond:
        c.log("shop", "web", "app", "rotated away", second + 10_000)
        c.rotate("shop", "web", "app")
        for k in range(5):
            c.log("shop", "web", "app", f"new {k}", second + 20_000 + k * 1000)
    run(namespaces=["shop"]).start()
    wait_for(lambda: "new 4" in account(store, c, "shop", "web").messages, what="new 4")
    got = account(store, c, "shop", "web")
    # The resumed answer repeats none of the three stored lines: skipping three by count
    # would have dropped "new 0".."new 2".
    assert got.messages == [f"stored {k}" for k in range(3)] + [f"new {k}" for k in range(5)]
    assert [text for _, text in got.missing] == ["rotated away"]
    assert got.unmarked == []
    (gap,) = got.gaps
    assert gap.start_ns > second + 2000 and gap.end_ns == second + 20_000


# ------------------------------------------------------------- 9: pre-1.29 kubelets


@pytest.mark.parametrize("mode", ["hang", "end"])
def test_follow_stopped_at_rotation_is_resumed_promptly(
    double: KubeDouble, store: Store, run: Callable[..., Run], mode: str
) -> None:
    c = double.cluster
    c.rotation_mode = mode  # type: ignore[assignment]
    c.add_pod("shop", "web", rotate_bytes=1000)  # ~15 lines a file
    write(c, "shop", "web", ["first"])
    run(namespaces=["shop"]).start()
    k = 0
    started = time.monotonic()
    while time.monotonic() - started < 1.5:  # a few hundred lines/s
        write(c, "shop", "web", [f"line {k + j}" for j in range(3)])
        k += 3
        time.sleep(0.01)
    assert c.rotations("shop", "web", "app") >= 5
    done = time.monotonic()
    wait_for(
        lambda: f"line {k - 1}" in account(store, c, "shop", "web").messages,
        timeout=5,  # the read timeout is 30 s
        what="the last line",
    )
    assert time.monotonic() - done < 5
    got = account(store, c, "shop", "web")
    assert got.unmarked == [] and got.duplicates == 0


# ------------------------------------------------------------- 10: terminating pods


def test_terminating_pod_is_streamed_to_its_last_line(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    # Turns come rarely: only urgency reads the terminating pod in time.
    slow = dataclasses.replace(
        TIMINGS.stream, backoff_max_s=5.0, poll_active_s=5.0, poll_quiet_s=5.0
    )
    for i in range(3):
        c.add_pod("shop", f"other-{i}")
    c.add_pod("shop", "leaving")
    write(c, "shop", "leaving", ["hello"])
    r = run(namespaces=["shop"], max_streams=1, stream=slow, slice_s=1.0)
    r.start()
    wait_for(holds(store, c, "shop", "leaving", "hello"), what="hello")
    c.terminate_pod("shop", "leaving")
    for k in range(5):
        write(c, "shop", "leaving", [f"shutting down {k}"])
        time.sleep(0.05)
    wait_for(lambda: c.open_log_streams("shop", "leaving") == 1, what="followed")
    c.break_streams("shop", "leaving")  # the stream is cut just before the end
    write(c, "shop", "leaving", ["bye"])
    # The pod is gone 0.6 s later (its grace period, shrunk): with everyone taking
    # turns of up to 1 s, only going first gets its last line read in time.
    time.sleep(0.6)
    written = c.written("shop", "leaving", "app")
    c.delete_pod("shop", "leaving")
    r.stop()
    got = Account(store, "shop/leaving/app#0", written)
    assert got.missing == [] and got.duplicates == 0
