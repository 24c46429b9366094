"""The batch being filled: what goes into one transaction, and when it is due."""

from __future__ import annotations

from klogtui.collect.batching import BatchBuilder
from klogtui.model import Record, SourceInfo, SourceKey

KEY = SourceKey("shop", "web-1", "app", 0, "uid-1")


def record(ts: int) -> Record:
    return Record(ts, KEY, 1, f"line {ts}", 0, 0)


def test_an_empty_builder_is_never_due_and_gives_no_batch() -> None:
    b = BatchBuilder(max_lines=2, max_delay_s=0.5)
    b.add_records([])
    b.hurry()
    assert b.empty and not b.since
    assert not b.due(now=10**9)
    assert b.take() is None


def test_due_by_line_count_or_by_the_age_of_its_oldest_item() -> None:
    b = BatchBuilder(max_lines=3, max_delay_s=0.5)
    b.add_records([record(1), record(2)])
    started = b.since
    assert started > 0
    assert not b.due(now=started + 0.4)
    assert b.due(now=started + 0.5)  # old enough
    b.add_records([record(3)])
    assert b.since == started  # the clock is the oldest item's
    assert b.due(now=started)  # full


def test_hurry_makes_a_batch_due_at_once() -> None:
    b = BatchBuilder(max_lines=100, max_delay_s=60)
    b.add_source(SourceInfo(KEY, state="running"))
    assert not b.due(now=b.since)
    b.hurry()
    assert b.due(now=b.since)


def test_take_hands_everything_over_once_and_starts_anew() -> None:
    b = BatchBuilder(max_lines=100, max_delay_s=60)
    offset = [10]
    b.add_records([record(1)])
    b.put_checkpoint("file:a", lambda: f"offset {offset[0]}")
    b.put_checkpoint("kube:b", "resume 1")
    b.put_checkpoint("kube:b", "resume 2")  # the newest per key
    b.add_source(SourceInfo(KEY, state="running"))
    b.delete_checkpoint("file:gone")
    offset[0] = 20  # a checkpoint computed when taken says how far its lines go
    batch = b.take()
    assert batch is not None
    assert [r.ts for r in batch.records] == [1]
    assert dict(batch.checkpoints) == {"file:a": "offset 20", "kube:b": "resume 2"}
    assert [s.state for s in batch.sources] == ["running"]
    assert list(batch.deleted_checkpoints) == ["file:gone"]
    assert b.empty and b.take() is None and not b.due(now=10**9)


def test_a_deleted_checkpoint_put_again_is_kept_and_the_other_way_round() -> None:
    b = BatchBuilder(max_lines=100, max_delay_s=60)
    b.delete_checkpoint("k1")
    b.put_checkpoint("k1", "1")
    b.put_checkpoint("k2", "2")
    b.delete_checkpoint("k2")
    b.delete_checkpoint("k3")
    b.keep_checkpoint("k3")  # its content came back before the batch went
    batch = b.take()
    assert batch is not None
    assert dict(batch.checkpoints) == {"k1": "1"}
    assert list(batch.deleted_checkpoints) == ["k2"]
