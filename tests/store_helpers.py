"""Building records for store tests."""

from __future__ import annotations

from klogtui.model import Batch, Record, SourceKey, Stream
from klogtui.store import Store

T0 = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z, an arbitrary fixed instant
SEC = 1_000_000_000


def key(
    ns: str = "shop", pod: str = "web-1", container: str = "app", restart: int = 0
) -> SourceKey:
    return SourceKey(ns, pod, container, restart, pod_uid=f"uid-{pod}")


def rec(
    ts: int,
    message: str,
    source: SourceKey | None = None,
    stream: int = Stream.STDOUT,
    level: int = 0,
) -> Record:
    return Record(ts, source or key(), stream, message, level)


def write(store: Store, *batches: Batch) -> None:
    writer = store.start_writer()
    try:
        for b in batches:
            writer.submit(b)
        assert writer.flush(10)
    finally:
        writer.close()
