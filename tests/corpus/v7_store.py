"""The lines of store_v7.db.gz, a store made by schema 7's writer (main at 1b6f1c7).

Schema 8 stores a line's timestamp as its remainder past the id's bucket start; a
schema 7 store keeps a stored ts. This store has lines of one pod, most of them
compressed (the writer trained its dictionary on the first TRAIN_LINES lines here,
not 20,000, so that the file stays small), and a second pod's lines at awkward
instants: on and next to bucket edges, several on one nanosecond, before 1970 and
past 2059 (where ids clamp).

Made with `PYTHONPATH=<checkout of 1b6f1c7>:. python -m tests.corpus.v7_store OUT.db`,
then gzip -9.
"""

from __future__ import annotations

import sys
from pathlib import Path

from klogtui.model import Batch, Record, SourceKey, Stream

T0 = 1_764_000_000_000_000_000  # 2025-11-24T16:00:00Z
SEC = 1_000_000_000
BUCKET = 10_000  # store/ids.py's 10 µs
WEB = SourceKey("shop", "web-0", "app", 0, "uid-web-0")
EDGE = SourceKey("shop", "edge-0", "app", 0, "uid-edge-0")
WEB_LINES = 3_000
TRAIN_LINES = 1_000
WEB_STEP = 1_000_003  # a millisecond and a bit: the remainders vary
EDGE_STAMPS = [
    -3 * SEC - 7,  # 1969: ids clamp to the first bucket
    -1,
    T0 - 1,  # the last nanosecond of a bucket
    T0,  # the first of the next (T0 is a multiple of 10 µs)
    T0,
    T0,  # three lines on one nanosecond
    T0 + BUCKET - 1,
    T0 + BUCKET,
    4_102_444_800 * SEC,  # 2100-01-01: ids clamp to the last bucket
    4_102_444_800 * SEC + 1,
]


def web_message(i: int) -> str:
    return f"GET /api/v1/orders/{i % 300} 200 {i % 17} ms user={i % 23}"


def edge_message(i: int) -> str:
    return f"edge line {i} at the awkward instant {EDGE_STAMPS[i]}"


def records() -> list[Record]:
    web = [
        Record(T0 + i * WEB_STEP, WEB, Stream.STDOUT, web_message(i), 0) for i in range(WEB_LINES)
    ]
    edge = [Record(ts, EDGE, Stream.STDERR, edge_message(i), 0) for i, ts in enumerate(EDGE_STAMPS)]
    return web + edge


def main(out: Path) -> None:
    from klogtui.store import Store, text_codec

    text_codec.TextEncoder.__init__.__defaults__ = (TRAIN_LINES,)
    store = Store.open(out)
    writer = store.start_writer()
    try:
        lines = records()
        for start in range(0, len(lines), 500):
            writer.submit(Batch(lines[start : start + 500]))
            assert writer.flush(60)  # a transaction each: the first ones stay TEXT
    finally:
        writer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
