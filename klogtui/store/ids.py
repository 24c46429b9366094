"""Line ids: the rowid encodes the timestamp so rowid order is time order.

id = (ts_ns // 10_000) << 15 | slot. Ten-microsecond buckets with 32768 slots each
fit in a signed 64-bit rowid until 2059. Newest-first search pages then come straight
off the FTS5 doclist (ordered by rowid) instead of sorting by a timestamp column.
"""

from __future__ import annotations

__all__ = ["BUCKET_NS", "SLOT_BITS", "id_before_ts", "id_for_ts", "past_last_bucket", "ts_of_id"]

BUCKET_NS = 10_000
SLOT_BITS = 15
# Timestamps past 2059 all share the last bucket; the spare buckets above it leave
# room for a collision there to move up without passing 2**63.
_MAX_BUCKET = (1 << (63 - SLOT_BITS)) - 1 - 4096


def bucket_of(ts_ns: int) -> int:
    """The 10 µs bucket of a timestamp, clamped to what an id can hold."""
    return _clamped(ts_ns // BUCKET_NS)


def _clamped(bucket: int) -> int:
    return 0 if bucket < 0 else (_MAX_BUCKET if bucket > _MAX_BUCKET else bucket)


def past_last_bucket(ts_ns: int) -> bool:
    """Whether ts_ns is at or past the last bucket (2059): ids cannot order lines there
    by time, so a time bound at such an instant must also test the timestamp."""
    return ts_ns // BUCKET_NS >= _MAX_BUCKET


def id_for_ts(ts_ns: int) -> int:
    """The smallest id a line at ts_ns can have: use as an inclusive lower bound."""
    return bucket_of(ts_ns) << SLOT_BITS


def id_before_ts(ts_ns: int) -> int:
    """An exclusive upper bound for lines before ts_ns: the smallest id of the first
    bucket holding no instant before ts_ns. Every line stamped before ts_ns has a
    smaller id; so do lines later in ts_ns's own bucket (within 10 µs), which ids
    cannot tell apart. id_for_ts(ts_ns) would instead cut off lines stamped earlier in
    that bucket, such as the newest line when ts_ns is one past its timestamp."""
    return _clamped(-(-ts_ns // BUCKET_NS)) << SLOT_BITS


def ts_of_id(line_id: int) -> int:
    """The (bucket-rounded) timestamp an id stands for."""
    return (line_id >> SLOT_BITS) * BUCKET_NS
