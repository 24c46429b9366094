"""Ingest with events (lines joined into stack traces, JSON/logfmt fields parsed) vs
without (one record per decoded line, no fields), same data, same run.

Both sides read the generated tree with the file collector's parts, in process: the
`LineDecoder` of every file, then either `StreamEvents` (grouping + fields, as the
collector does) or a record per message (the ingest before events), into a fresh store
through the real `Writer`. The tree is the suite's usual mix (JSON, logfmt, klog and
plain lines over stdout and stderr) with stack traces (Java, Python, Go, Node.js) added
to every 50th file position. Runs alternate between the two sides; medians of the
wall time and of the process's CPU time (both threads: reading and the writer). On a
shared machine the CPU time is the steadier figure: other processes' load stretches
the wall time of both sides unevenly, it hardly changes the CPU each side needs.

    python bench/events.py --lines 300000 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gen import Dataset, generate  # noqa: E402

from klogtui.collect.files.events import StreamEvents  # noqa: E402
from klogtui.formats import LineDecoder, Parsed  # noqa: E402
from klogtui.model import Batch, Record, SourceKey  # noqa: E402
from klogtui.store import Store  # noqa: E402

__all__ = ["events_ingest"]

_SUBMIT = 10_000
_TRACE = [
    "ERROR 1 --- [main] c.e.App : request failed",
    "java.lang.IllegalStateException: no lines",
    "\tat com.example.App.total(App.java:88)",
    "\tat com.example.App.main(App.java:12)",
    "Caused by: java.io.IOException: reset",
    "\t... 4 more",
]


def _with_traces(data: bytes) -> bytes:
    """The file's CRI lines with a Java trace after every 50th line (same timestamps)."""
    out: list[bytes] = []
    for i, line in enumerate(data.split(b"\n")[:-1]):
        out.append(line)
        if i % 50 == 49:
            head = b" ".join(line.split(b" ", 3)[:3])
            out += [head + b" " + t.encode() for t in _TRACE]
    return b"\n".join(out) + b"\n"


def events_ingest(
    files: list[tuple[SourceKey, bytes]], db: Path, grouped: bool
) -> tuple[float, float]:
    """Ingest the files into a new store at db; returns (wall, CPU) seconds."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = Store.open(db)
    writer = store.start_writer()
    started = time.perf_counter()
    cpu_started = time.process_time()
    pending: list[Record] = []
    for key, data in files:
        decoder = LineDecoder()
        events = StreamEvents(key)
        now = time.time_ns()
        mono = time.monotonic()
        pos = 0
        parsed: list[Parsed] = []
        for n, raw in enumerate(data.split(b"\n")[:-1]):
            for p in decoder.feed(raw, now, pos):
                if grouped:
                    parsed.append(p)
                else:
                    pending.append(Record(p.ts, key, p.stream, p.message, p.level, p.flags))
            pos += len(raw) + 1
            if grouped and n % 1024 == 1023:  # as the collector: once per chunk read
                events.add_many(parsed, mono)
                parsed = []
                pending += events.release()
            if len(pending) >= _SUBMIT:
                writer.submit(Batch(pending))
                pending = []
        if grouped:
            events.add_many(parsed, mono)
            events.flush()
            pending += events.release()
    writer.submit(Batch(pending))
    assert writer.flush(600)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    writer.close()
    return elapsed, cpu


def _files(ds: Dataset, traces: bool = True) -> list[tuple[SourceKey, bytes]]:
    out = []
    for f in ds.files:
        data = f.path.read_bytes()
        out.append(
            (
                SourceKey(f.namespace, f.pod, f.container, 0, "uid"),
                _with_traces(data) if traces else data,
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument(
        "--no-traces",
        action="store_true",
        help="the tree as generated: no line to join, so grouping saves no rows",
    )
    args = ap.parse_args(argv)
    ds = generate(args.lines, data_dir=args.data_dir, log=print)
    files = _files(ds, traces=not args.no_traces)
    physical = sum(data.count(b"\n") for _, data in files)
    times: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for grouped in (run % 2 == 0, run % 2 == 1):
                wall, cpu_s = events_ingest(files, Path(tmp) / "s.db", grouped)
                times[grouped].append(wall)
                cpu[grouped].append(cpu_s)
    with_events = statistics.median(times[True])
    without = statistics.median(times[False])
    ratio = with_events / without
    cpu_ratio = statistics.median(cpu[True]) / statistics.median(cpu[False])
    traces = "no traces" if args.no_traces else "a Java trace after every 50th line"
    print(f"{physical:,} physical lines ({traces}), {args.runs} runs each, alternating")
    print("| ingest | median wall s | lines/s | median CPU s |")
    print("|---|---|---|---|")
    for name, side in (("with events + fields", True), ("one record per line", False)):
        wall = statistics.median(times[side])
        print(
            f"| {name} | {wall:.2f} | {physical / wall:,.0f} | {statistics.median(cpu[side]):.2f} |"
        )
    print(
        f"cost of events: {100 * (ratio - 1):+.1f}% wall, {100 * (cpu_ratio - 1):+.1f}% CPU"
        " (target <= +15%)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
