"""Line ids: the rowid encodes the timestamp so rowid order is time order.

id = (ts_ns // 10_000) << 15 | slot. Ten-microsecond buckets with 32768 slots each
fit in a signed 64-bit rowid until 2059. Newest-first search pages then come straight
off the FTS5 doclist (ordered by rowid) instead of sorting by a timestamp column.
"""

from __future__ import annotations

__all__ = [
    "BUCKET_NS",
    "MAX_BUCKET",
    "SLOT_BITS",
    "TS_FROM_REMAINDER",
    "id_before_ts",
    "id_for_ts",
    "past_last_bucket",
    "remainder_sql",
    "ts_of_id",
]

BUCKET_NS = 10_000
SLOT_BITS = 15
# Timestamps past 2059 all share the last bucket; the spare buckets above it leave
# room for a collision there to move up without passing 2**63.
MAX_BUCKET = (1 << (63 - SLOT_BITS)) - 1 - 4096


def bucket_of(ts_ns: int) -> int:
    """The 10 µs bucket of a timestamp, clamped to what an id can hold."""
    return _clamped(ts_ns // BUCKET_NS)


def _clamped(bucket: int) -> int:
    return 0 if bucket < 0 else (MAX_BUCKET if bucket > MAX_BUCKET else bucket)


def past_last_bucket(ts_ns: int) -> bool:
    """Whether ts_ns is at or past the last bucket (2059): ids cannot order lines there
    by time, so a time bound at such an instant must also test the timestamp."""
    return ts_ns // BUCKET_NS >= MAX_BUCKET


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


# Since schema 8 a `lines` row keeps its timestamp as the remainder past the start of
# its id's bucket (`ts_rem`, usually 0..9,999: 2 bytes where ts took 8), and `ts` is a
# virtual column computed from the two. The remainder is just an integer: a line moved
# up into a later bucket (a collision) has a negative one, a line clamped into the
# first or last bucket (before 1970, past 2059) a large one, and ts stays exact.
TS_FROM_REMAINDER = f"(id >> {SLOT_BITS}) * {BUCKET_NS} + ts_rem"


def remainder_sql(line_id: str, ts_ns: str) -> str:
    """SQL for `ts_rem` from SQL for a line's id and its timestamp (ts_of_id in SQL)."""
    return f"{ts_ns} - ({line_id} >> {SLOT_BITS}) * {BUCKET_NS}"
