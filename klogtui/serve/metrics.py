"""`/metrics`: the collector's per-source statistics in the Prometheus text format.

Read when scraped, from the counters the collectors already keep (nothing is counted
twice): events and bytes ingested per source, how far each source is behind its files,
errors by kind, the store's size on disk, the writer's queue depth, open files and the
time of the last commit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from klogtui.collect.runner import Running
from klogtui.store import CommitInfo

__all__ = ["CONTENT_TYPE", "IngestMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class IngestMetrics(Collector):
    """The statistics of one running collection, as Prometheus metric families.

    Args:
        store: the store file (its size, -wal and -shm included, is reported).
        connections: how many connections the API has open.
    """

    def __init__(self, store: Path, connections: Callable[[], int]) -> None:
        self._store = store
        self._connections = connections
        self._running: Running | None = None
        self._last_commit = 0.0
        self._commits = 0
        self._lock = threading.Lock()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    def attach(self, running: Running) -> None:
        self._running = running

    def committed(self, info: CommitInfo) -> None:
        """The writer's on_commit: when the last commit was."""
        with self._lock:
            self._last_commit = time.time()
            self._commits += 1

    def text(self) -> bytes:
        return generate_latest(self._registry)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        running = self._running
        if running is None:
            return
        now_ns = time.time_ns()
        events = CounterMetricFamily(
            "klogtui_events_ingested", "Events handed to the store, per source", labels=["source"]
        )
        nbytes = CounterMetricFamily(
            "klogtui_bytes_ingested",
            "Bytes of message text handed to the store, per source",
            labels=["source"],
        )
        lag = GaugeMetricFamily(
            "klogtui_source_lag_seconds",
            "Age of the newest line handed over, per source: how far behind its files",
            labels=["source"],
        )
        for source, t in sorted(running.stats.source_totals().items()):
            events.add_metric([source], t.events)
            nbytes.add_metric([source], t.bytes)
            if t.newest_ts:
                lag.add_metric([source], max(0.0, (now_ns - t.newest_ts) / 1e9))
        yield from (events, nbytes, lag)
        errors = CounterMetricFamily(
            "klogtui_errors", "Problems reported, by kind (source: a file or pod)", labels=["kind"]
        )
        for kind, n in sorted(running.stats.error_counts().items()):
            errors.add_metric([kind], n)
        yield errors
        snap = running.stats.snapshot()
        yield GaugeMetricFamily(
            "klogtui_store_bytes",
            "The store's size on disk (-wal and -shm included)",
            value=self._store_bytes(),
        )
        loading = running.history_loading()
        yield GaugeMetricFamily(
            "klogtui_history_loaded_ratio",
            "Share of the older history loaded behind the newest lines (1: all loaded)",
            value=1.0 if loading is None else loading,
        )
        yield GaugeMetricFamily(
            "klogtui_writer_queue_lines",
            "Lines handed to the writer and not yet committed",
            value=running.writer.pending_lines,
        )
        yield GaugeMetricFamily(
            "klogtui_open_files", "Log files the collector holds open", value=snap.files_open
        )
        yield GaugeMetricFamily(
            "klogtui_open_streams",
            "API log streams the collector holds open",
            value=snap.streams_open,
        )
        with self._lock:
            last, commits = self._last_commit, self._commits
        yield GaugeMetricFamily(
            "klogtui_last_commit_timestamp_seconds",
            "Unix time of the writer's last commit (0: none since the start)",
            value=last,
        )
        yield CounterMetricFamily(
            "klogtui_commits", "Transactions the writer committed", value=commits
        )
        yield GaugeMetricFamily(
            "klogtui_api_connections",
            "Connections the query API has open (this scrape's included)",
            value=self._connections(),
        )

    def _store_bytes(self) -> int:
        size = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                size += os.path.getsize(str(self._store) + suffix)
            except OSError:
                pass
        return size
