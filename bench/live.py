"""Live latency: from a container's write() to the line being queryable.

A writer process appends CRI lines to 50 files at 5,000 lines/s in total, one
write() per line (as a container runtime does), each line carrying its sequence
number and the wall-clock time of its write. A `klogtui collect` process tails the
files into a store. This process polls the store every few milliseconds and, for
each new line, takes the time the query that first returned it *started* (its read
snapshot began then, so the line was committed by then) minus the write time. The
first seconds (warm-up) are left out; lines never seen are reported as lost.

`python bench/live.py --writer DIR RATE SECONDS` is the writer process itself.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest import KLOGTUI

from klogtui.store import Reader

__all__ = ["LiveResult", "make_live_dir", "percentile", "queryable_latency", "start_writer"]

FILES = 50
_POLL_S = 0.005
_LINE_RE = re.compile(r"seq=(\d+) wrote=(\d+)")
_PAD = "x" * 110  # brings a line to about 170 bytes, like the generated data


@dataclass(frozen=True, slots=True)
class LiveResult:
    """Latencies in seconds over the measured (post-warm-up) lines."""

    p50: float
    p99: float
    max: float
    written: int  # lines written after the warm-up
    seen: int  # of those, lines that became visible
    rate: float  # lines/s actually written


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def make_live_dir(root: Path, files: int = FILES) -> list[Path]:
    """Create `files` empty container logs under root/pods; returns their paths."""
    paths = []
    for i in range(files):
        d = root / "pods" / f"live_writer-{i:02d}_uid-{i:04d}" / "app"
        d.mkdir(parents=True, exist_ok=True)
        p = d / "0.log"
        p.touch()
        paths.append(p)
    return paths


def _rfc3339(ns: int) -> str:
    secs, nanos = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def write_lines(paths: list[Path], rate: float, seconds: float) -> int:
    """Append lines round-robin at `rate` lines/s for `seconds`; returns lines written."""
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
    started = time.monotonic()
    seq = 0
    try:
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                break
            due = int(elapsed * rate)
            while seq < due:
                now = time.time_ns()
                line = f"{_rfc3339(now)} stdout F seq={seq} wrote={now} {_PAD}\n"
                os.write(fds[seq % len(fds)], line.encode())
                seq += 1
            time.sleep(0.002)
    finally:
        for fd in fds:
            os.close(fd)
    return seq


def start_writer(root: Path, rate: float, seconds: float) -> subprocess.Popen[str]:
    """Run the writer in a process of its own, so it never waits on our GIL."""
    return subprocess.Popen(
        [sys.executable, __file__, "--writer", str(root), str(rate), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def queryable_latency(
    seconds: float,
    rate: float = 5000,
    warmup: float = 2.0,
    drain: float = 3.0,
    log: Callable[[str], None] = print,
) -> LiveResult:
    """Write for `seconds` at `rate` under a `klogtui collect` process; measure.

    Args:
        seconds: how long the writer writes.
        rate: lines per second over all FILES files.
        warmup: seconds of lines left out of the figures.
        drain: how long to keep looking for lines after the writer stopped.
        log: told about lines that never became queryable.
    """
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        root = Path(tmp) / "logs"
        db = Path(tmp) / "live.db"
        make_live_dir(root)
        collector = subprocess.Popen(
            [KLOGTUI, "collect", "--log-dir", str(root), "--db", str(db)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not db.exists() or db.stat().st_size == 0:
                if collector.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"klogtui collect did not start: {collector.stderr}")
                time.sleep(0.05)
            time.sleep(0.5)  # let it set up its watches before lines arrive
            reader = Reader(db)
            writer = start_writer(root, rate, seconds)
            first_seq = int(rate * warmup)
            wrote: dict[int, int] = {}
            seen_at: dict[int, int] = {}
            # Lines of different files can be committed out of time order, so a single
            # id cursor would skip late ones; within one file ids only grow, so keep a
            # cursor per file (one pod each).
            cursors: dict[str, int | None] = {f"pod=writer-{i:02d}": None for i in range(FILES)}
            version = -1
            writer_done_at: float | None = None
            while True:
                v = reader.data_version()
                if v != version:
                    version = v
                    for query, cursor in cursors.items():
                        while True:
                            t_query = time.time_ns()
                            page = reader.window_after(query, cursor, 5_000)
                            for line in page:
                                m = _LINE_RE.search(line.message)
                                if m:
                                    seq = int(m[1])
                                    wrote[seq] = int(m[2])
                                    seen_at[seq] = t_query
                            if page:
                                cursor = page[-1].id
                            if len(page) < 5_000:
                                break
                        cursors[query] = cursor
                if writer_done_at is None and writer.poll() is not None:
                    writer_done_at = time.monotonic()
                if writer_done_at is not None and time.monotonic() - writer_done_at > drain:
                    break
                time.sleep(_POLL_S)
            out, _ = writer.communicate()
            total = int(out.strip() or 0)
            reader.close()
        finally:
            _stop(collector)
    measured = [(seen_at[s] - wrote[s]) / 1e9 for s in range(first_seq, total) if s in seen_at]
    written = max(0, total - first_seq)
    if len(measured) < written:
        log(f"  live: {written - len(measured)} of {written} lines never became queryable")
    return LiveResult(
        percentile(measured, 50),
        percentile(measured, 99),
        max(measured, default=math.nan),
        written,
        len(measured),
        total / seconds,
    )


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[0] == "--writer":
        root = Path(argv[1])
        paths = sorted((root / "pods").glob("*/*/0.log"))
        print(write_lines(paths, float(argv[2]), float(argv[3])))
        return
    r = queryable_latency(float(argv[0]) if argv else 20.0)
    print(r)


if __name__ == "__main__":
    main(sys.argv[1:])
