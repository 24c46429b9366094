"""Remote mode's test harness: a KubeCollector run against the API double into a real
store, what it stored, and the wait until it holds exactly what the double emitted.

Shared by the remote-mode tests (tests/collect/test_kube_*.py, tests/system/test_kube_*.py);
the `run` fixture that makes and stops Runs lives in tests/conftest.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.collector import KubeCollector, KubeOptions, KubeTimings
from klogtui.collect.kube.pods import WatchTimings
from klogtui.collect.kube.stream import StreamTimings
from klogtui.model import Batch
from klogtui.store import Store
from tests.kube_double import KubeDouble
from tests.waiting import wait_for

NS = 1_000_000_000

FAST = KubeTimings(
    connect_timeout_s=2.0,
    check_timeout_s=5.0,
    slice_s=0.4,
    batch_delay_s=0.03,
    stream=StreamTimings(
        read_timeout_s=1.0, backoff_base_s=0.05, backoff_max_s=0.3, eof_grace_s=0.3
    ),
    watch=WatchTimings(
        watch_timeout_s=30, read_margin_s=2.0, backoff_base_s=0.05, backoff_max_s=0.3
    ),
)


def stored(store: Store) -> dict[str, list[str]]:
    """Messages per instance ("ns/pod/container#restart"), in stored (time) order."""
    reader = store.reader()
    try:
        lines = reader.oldest("", 10_000_000)  # before sources: see helpers_files.stored
        names = {s.id: str(s.key) for s in reader.sources()}
        out: dict[str, list[str]] = {}
        for line in lines:
            out.setdefault(names[line.source_id], []).append(line.message)
        return out
    finally:
        reader.close()


def sources(store: Store) -> dict[str, Any]:
    reader = store.reader()
    try:
        return {str(s.key): s for s in reader.sources()}
    finally:
        reader.close()


def seqs(name: str, numbers: list[int] | range) -> list[str]:
    return [f"{name} seq={k}" for k in numbers]


class DroppingSink:
    """Forwards batches to the writer until `cut()`, then loses them: a crash, as seen
    by the store (nothing after the cut was committed, lines or checkpoints)."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.cut_off = False

    def submit(self, batch: Batch) -> None:
        if not self.cut_off:
            self.writer.submit(batch)


class Run:
    """One collector writing into the store, like `klogtui collect`."""

    def __init__(
        self,
        double: KubeDouble,
        store: Store,
        tmp_path: Path,
        *,
        namespaces: list[str] | None = None,
        all_namespaces: bool = False,
        selector: str | None = None,
        since_s: int = 3600,
        max_streams: int = 50,
        timings: KubeTimings = FAST,
        dropping: bool = False,
    ) -> None:
        kubeconfig = double.kubeconfig(tmp_path / "kubeconfig")
        self.store = store
        self.writer = store.start_writer()
        self.sink = DroppingSink(self.writer)
        self.stats = CollectorStats()
        self.stopped = False
        options = KubeOptions(
            str(kubeconfig),
            None,
            namespaces or [],
            all_namespaces,
            selector,
            since_s=since_s,
            max_streams=max_streams,
            timings=timings,
        )
        self.collector = KubeCollector(
            options,
            self.sink if dropping else self.writer,
            self.stats,
            checkpoints=store.load_checkpoints("kube:"),
        )

    def start(self, caught_up: bool = True) -> Run:
        self.collector.start()
        if caught_up:
            wait_for(self.collector.caught_up, timeout=20, what="caught up")
        return self

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.collector.stop()
        self.collector.join(10)
        self.writer.flush(10)
        self.writer.close()

    def errors(self) -> list[str]:
        return [e.message for e in self.stats.snapshot().errors]


def settle(store: Store, expected: dict[str, list[str]], timeout: float = 10.0) -> None:
    """Wait until the store holds `expected` (at least), then assert it holds exactly it."""

    def complete() -> bool:
        got = stored(store)
        return all(len(got.get(k, [])) >= len(v) for k, v in expected.items())

    try:
        wait_for(complete, timeout, "lines stored")
    finally:
        time.sleep(0.15)  # room for a duplicate to show up
        got = {k: v for k, v in stored(store).items() if v}
        assert got == {k: v for k, v in expected.items() if v}
