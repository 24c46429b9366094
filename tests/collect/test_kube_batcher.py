"""The batcher: few batches, newest checkpoint per key, bounded memory, nothing lost."""

from __future__ import annotations

import threading
import time

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.batcher import Batcher
from klogtui.model import Batch, Record, SourceInfo, SourceKey
from tests.waiting import wait_for

KEY = SourceKey("shop", "web-1", "app", 0, "u1")


def recs(*texts: str) -> list[Record]:
    return [Record(1_795_000_000_000_000_000 + i, KEY, 0, t) for i, t in enumerate(texts)]


class SlowSink:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[Batch] = []
        self.gate = gate

    def submit(self, batch: Batch) -> None:
        if self.gate is not None:
            self.gate.wait()
        self.batches.append(batch)


def test_items_merge_into_one_batch_with_the_newest_checkpoints() -> None:
    sink = SlowSink()
    stats = CollectorStats()
    b = Batcher(sink, stats, max_delay_s=0.2)
    b.add(recs("a", "b"), ("kube:u1:app:0", "1"))
    b.add(recs("c"), ("kube:u1:app:0", "2"), sources=[SourceInfo(KEY, state="running")])
    b.add([], ("kube:u1:side:0", "x"))
    seq = b.add([], deleted=["kube:u1:side:0", "kube:old:app:0"])
    assert b.flush(5) and b.submitted(seq)
    (batch,) = sink.batches
    assert [r.message for r in batch.records] == ["a", "b", "c"]
    assert batch.checkpoints == {"kube:u1:app:0": "2"}
    assert batch.deleted_checkpoints == ["kube:old:app:0", "kube:u1:side:0"]
    assert [s.state for s in batch.sources] == ["running"]
    assert stats.snapshot().lines_total == 3
    b.close()


def test_lines_are_handed_over_within_the_delay() -> None:
    sink = SlowSink()
    b = Batcher(sink, CollectorStats(), max_delay_s=0.05)
    started = time.monotonic()
    b.add(recs("a"))
    wait_for(lambda: len(sink.batches) == 1, timeout=2)
    assert time.monotonic() - started < 1.0
    b.close()


def test_a_slow_sink_blocks_producers_instead_of_growing_memory() -> None:
    gate = threading.Event()
    sink = SlowSink(gate)
    b = Batcher(sink, CollectorStats(), max_delay_s=0.01, max_buffered=10)
    done: list[int] = []

    def produce() -> None:
        for i in range(100):
            b.add(recs(f"line {i}"))
        done.append(1)

    t = threading.Thread(target=produce)
    t.start()
    time.sleep(0.3)
    # One batch is stuck in the sink, at most 10 lines wait: the producer waits too.
    assert not done
    assert b.buffered <= 10
    gate.set()
    t.join(5)
    assert done and b.flush(5)
    assert [r.message for bt in sink.batches for r in bt.records] == [
        f"line {i}" for i in range(100)
    ]
    assert max(len(bt.records) for bt in sink.batches) <= 10
    b.close()


def test_close_hands_over_what_is_left() -> None:
    sink = SlowSink()
    b = Batcher(sink, CollectorStats(), max_delay_s=60)
    b.add(recs("last"), ("k", "v"))
    b.close()
    assert [r.message for r in sink.batches[0].records] == ["last"]
    assert sink.batches[0].checkpoints == {"k": "v"}
