"""Line ids: the rowid encodes the timestamp so rowid order is time order.

id = (ts_ns // 10_000) << 15 | slot. Ten-microsecond buckets with 32768 slots each
fit in a signed 64-bit rowid until 2059. Newest-first search pages then come straight
off the FTS5 doclist (ordered by rowid) instead of sorting by a timestamp column.
"""

from __future__ import annotations

__all__ = ["BUCKET_NS", "SLOT_BITS", "id_for_ts", "past_last_bucket", "ts_of_id"]

BUCKET_NS = 10_000
SLOT_BITS = 15
# Timestamps past 2059 all share the last bucket; the spare buckets above it leave
# room for a collision there to move up without passing 2**63.
_MAX_BUCKET = (1 << (63 - SLOT_BITS)) - 1 - 4096


def bucket_of(ts_ns: int) -> int:
    """The 10 µs bucket of a timestamp, clamped to what an id can hold."""
    b = ts_ns // BUCKET_NS
    return 0 if b < 0 else (_MAX_BUCKET if b > _MAX_BUCKET else b)


def past_last_bucket(ts_ns: int) -> bool:
    """Whether ts_ns is at or past the last bucket (2059): ids cannot order lines there
    by time, so a time bound at such an instant must also test the timestamp."""
    return ts_ns // BUCKET_NS >= _MAX_BUCKET


def id_for_ts(ts_ns: int) -> int:
    """The smallest id a line at ts_ns can have: use as an inclusive lower bound."""
    return bucket_of(ts_ns) << SLOT_BITS


def ts_of_id(line_id: int) -> int:
    """The (bucket-rounded) timestamp an id stands for."""
    return (line_id >> SLOT_BITS) * BUCKET_NS
