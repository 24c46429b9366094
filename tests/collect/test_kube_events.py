"""Stack traces read through the Kubernetes API stored as one event each: the corpus end
to end through the API double (chunks cut anywhere, a connection dropped inside a trace),
and a crash after any line of a log, resumed from the committed checkpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.batcher import Batcher
from klogtui.collect.kube.events import InstanceEvents
from klogtui.collect.kube.lines import ReplayFilter, ResumePoint, to_records
from klogtui.formats import parse_timestamp
from klogtui.model import Batch, SourceKey
from klogtui.store import Store
from tests.collect.test_kube_collect import Run, stored
from tests.corpus import SHAPES, events_of
from tests.kube_double import FakeCluster, KubeDouble
from tests.waiting import wait_for

T0 = 1_795_514_400_000_000_000
TRUTH = events_of(sorted(SHAPES))


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(FakeCluster()) as d:
        yield d


@pytest.fixture
def run(double: KubeDouble, store: Store, tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def make(**kw: Any) -> Run:
        r = Run(double, store, tmp_path, **kw)
        runs.append(r)
        return r

    yield make
    for r in runs:
        r.stop()


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
