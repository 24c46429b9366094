"""Stack traces read through the Kubernetes API stored as one event each: the corpus end
to end through the API double (chunks cut anywhere, a connection dropped inside a trace),
and a crash after any line of a log, resumed from the committed checkpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.batcher import Batcher
from klogtui.collect.kube.events import InstanceEvents
from klogtui.collect.kube.lines import ReplayFilter, ResumePoint, to_records
from klogtui.formats import parse_timestamp
from klogtui.model import Batch, SourceKey
from klogtui.store import Store
from tests.corpus import SHAPES, events_of
from tests.kube_double import FakeCluster, KubeDouble
from tests.kube_double.cluster import Throttle
from tests.kube_double.times import format_ts
from tests.kube_run import Run, settle, stored
from tests.waiting import wait_for

T0 = 1_795_514_400_000_000_000
TRUTH = events_of(sorted(SHAPES))


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(FakeCluster()) as d:
        yield d


def _log(c: FakeCluster, first: int, last: int, base_ns: int) -> None:
    """Lines of the corpus's events first..last-1, each event stamped with its own ms."""
    for i in range(first, last):
        for line in TRUTH[i].lines:
            c.log("shop", "web-1", "app", line, base_ns + i * 1_000_000)


def test_the_corpus_through_the_api_is_stored_as_its_events(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    c = double.cluster
    c.chunk_size = 7  # lines and characters split across chunks
    c.add_pod("shop", "web-1")
    half = len(TRUTH) // 2
    base = time.time_ns() - 60 * 10**9  # within the first read's reach (--since 1h)
    _log(c, 0, half, base)
    run(namespaces=["shop"]).start()
    want = [e.message for e in TRUTH]
    wait_for(lambda: len(stored(store).get("shop/web-1/app#0", [])) >= half, what="history")
    _log(c, half, len(TRUTH), base)
    wait_for(lambda: len(stored(store)["shop/web-1/app#0"]) >= len(TRUTH), what="live")
    time.sleep(0.3)  # room for a duplicate to show up
    assert stored(store)["shop/web-1/app#0"] == want


class _Sink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def submit(self, batch: Batch) -> None:
        self.batches.append(batch)


KEY = SourceKey("shop", "web-1", "app", 0, "uid-1")


def _api_lines() -> list[tuple[bytes, int]]:
    """The log as the kubelet sends it: ``<RFC 3339> <line>`` per physical line."""
    out = []
    for i, event in enumerate(TRUTH):
        secs, frac = divmod(T0 + i * 1_000_000, 1_000_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"
        out += [(f"{stamp} {line}".encode(), 0) for line in event.lines]
    return out


def _read(lines: list[tuple[bytes, int]], point: ResumePoint) -> list[str]:
    """One request's answer from `point` on, joined into events and flushed at its end
    (the log ended); returns the messages handed over."""
    sink = _Sink()
    batcher = Batcher(sink, CollectorStats(), max_delay_s=0.01)
    events = InstanceEvents(KEY, "k", point, batcher)
    replay = ReplayFilter(point)
    since = point.last_ts_second
    # The kubelet answers from the resume second on (sinceTime has second precision).
    sent = [
        ln
        for ln in lines
        if since is None or parse_timestamp(ln[0].split(b" ", 1)[0]) // 10**9 >= since
    ]
    identities: list[int] = []
    events.add(to_records(sent, KEY, point, replay, 0, 0, identities), identities, now=0.0)
    events.flush()
    batcher.close()
    return [r.message for b in sink.batches for r in b.records]


def test_a_crash_after_any_line_resumes_without_loss_or_duplicate() -> None:
    lines = _api_lines()
    want = [e.message for e in TRUTH]
    for cut in range(1, len(lines)):
        sink = _Sink()
        batcher = Batcher(sink, CollectorStats(), max_delay_s=3600)
        point = ResumePoint()
        events = InstanceEvents(KEY, "k", point, batcher)
        identities: list[int] = []
        records = to_records(lines[:cut], KEY, point, ReplayFilter(point), 0, 0, identities)
        events.add(records, identities, now=0.0)  # the event still open is not handed over
        assert batcher.flush(10)
        batcher.close()
        committed = [r.message for b in sink.batches for r in b.records]
        checkpoints = [b.checkpoints["k"] for b in sink.batches if "k" in b.checkpoints]
        resumed = ResumePoint.from_json(checkpoints[-1]) if checkpoints else ResumePoint()
        assert resumed.lines == sum(m.count("\n") + 1 for m in committed)
        # Resumed: the whole log is sent again from the resume point; replays are skipped.
        again = _read(lines, resumed)
        assert committed + again == want, f"crash after line {cut}"


def test_a_connection_dropped_inside_a_trace_stores_it_once_and_whole(
    double: KubeDouble, store: Store, run: Callable[..., Run]
) -> None:
    """The double drops the follow stream after a byte inside the trace's 4th line (the
    first three lines reached the collector), and turns the reconnect away six times
    (429): the backoff's delays, never under half their nominal 0.05, 0.1, 0.2, 0.3 s...,
    put the answer that sends the trace again at least 0.775 s later, past the 0.3 s
    hold time. Meanwhile the open part is not handed over cut; the kubelet sends the
    trace again from the resume point, and it is stored once, whole."""
    c = double.cluster
    c.add_pod("shop", "web-1")
    r = run(namespaces=["shop"]).start()
    base = time.time_ns() - 10 * 10**9
    c.log("shop", "web-1", "app", "INFO before", base)
    name = "shop/web-1/app#0"
    wait_for(lambda: stored(store).get(name) == ["INFO before"], what="the line before")
    wait_for(lambda: c.open_log_streams("shop") == 1, what="the follow stream")
    trace = SHAPES["spring"][1]
    stamps = [base + 10**9 + i * 1000 for i in range(len(trace.lines))]
    sent = [
        f"{format_ts(ts)} {line}\n".encode() for ts, line in zip(stamps, trace.lines, strict=True)
    ]
    assert c.cut_streams(sum(map(len, sent[:3])) + len(sent[3]) // 2, "shop", "web-1", "app") == 1
    c.throttles.append(Throttle(6, None, lambda path, query: path.endswith("/web-1/log")))
    for ts, line in zip(stamps, trace.lines, strict=True):
        c.log("shop", "web-1", "app", line, ts)
    c.log("shop", "web-1", "app", "INFO after", stamps[-1] + 10**6)
    settle(store, {name: ["INFO before", trace.message, "INFO after"]})
    assert any("log stream broke" in e for e in r.errors())
    assert len(c.throttled) == 6  # the reconnect came after the hold time


def test_an_event_open_when_the_stream_broke_waits_for_the_resend() -> None:
    """However late the next request comes, the hold time does not hand over the part
    of an event read before the stream broke (the next answer sends it whole); if the
    log is gone for good, flush still stores it."""
    sink = _Sink()
    batcher = Batcher(sink, CollectorStats(), max_delay_s=0.01)
    point = ResumePoint()
    events = InstanceEvents(KEY, "k", point, batcher)
    trace = SHAPES["spring"][1]
    head = [
        (f"2026-11-24T10:00:01.00000000{i}Z {line}".encode(), 0)
        for i, line in enumerate(trace.lines[:3])
    ]
    identities: list[int] = []
    records = to_records(head, KEY, point, ReplayFilter(point), 0, 0, identities)
    events.add(records, identities, now=0.0)
    events.await_resend()
    assert events.deadline is None
    events.expire(60.0)
    assert point.last_ts_second is None  # nothing counted as handed over
    assert events.flush()
    batcher.close()
    assert [r.message for b in sink.batches for r in b.records] == ["\n".join(trace.lines[:3])]
