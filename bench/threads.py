"""Where `klogtui collect --once` spends its CPU, thread by thread.

Runs the collector in this process over a tree (default: bench's 1M-line tree) into a
fresh store and prints, for each thread, its lifetime, the CPU it used, the time it
waited for a core (run queue: other processes) and the rest, blocked (the GIL, locks,
I/O, a full or empty queue), from /proc/self/task/<tid>/schedstat read as the thread
ends. CPU seconds per line do not depend on what else the machine runs; wall time does.

    python bench/threads.py [--log-dir bench/data/logs-1000000-s1] [--runs 1]
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["ThreadTimes", "collect_once"]


@dataclass(frozen=True, slots=True)
class ThreadTimes:
    name: str
    life: float
    cpu: float
    run_queue: float

    @property
    def blocked(self) -> float:
        return max(0.0, self.life - self.cpu - self.run_queue)


def _timed_threads(out: list[ThreadTimes]) -> None:
    """Make every thread started from now on report its times as it ends."""
    run = threading.Thread.run

    def timed(self: threading.Thread) -> None:
        started = time.monotonic()
        try:
            run(self)
        finally:
            stat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").read_text()
            cpu_ns, wait_ns = (int(x) for x in stat.split()[:2])
            out.append(
                ThreadTimes(self.name, time.monotonic() - started, cpu_ns / 1e9, wait_ns / 1e9)
            )

    threading.Thread.run = timed  # type: ignore[method-assign]


def collect_once(log_dir: Path, db: Path) -> tuple[float, float, int, list[ThreadTimes]]:
    """(wall s, process CPU s, lines stored, threads) of one `collect --once`."""
    from klogtui.cli import main

    threads: list[ThreadTimes] = []
    _timed_threads(threads)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    code = main(["collect", "--once", "--log-dir", str(log_dir), "--db", str(db)])
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    if code:
        raise SystemExit(f"klogtui collect --once failed ({code})")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    with sqlite3.connect(db) as conn:
        lines = conn.execute("SELECT count(*) FROM lines").fetchone()[0]
    return wall, cpu, lines, threads


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent / "data" / "logs-1000000-s1"
    p.add_argument("--log-dir", type=Path, default=default)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        wall, cpu, lines, threads = collect_once(args.log_dir, Path(tmp) / "store.db")
    per = 1e6 / lines
    print(
        f"{lines:,} lines in {wall:.1f} s ({lines / wall:,.0f} lines/s); CPU {cpu:.1f} s "
        f"= {cpu * per:.1f} us a line"
    )
    print("| thread | lifetime s | CPU s | CPU us a line | waiting for a core s | blocked s |")
    print("|---|---|---|---|---|---|")
    for t in sorted(threads, key=lambda t: -t.cpu):
        if t.cpu >= 0.05:
            print(
                f"| {t.name} | {t.life:.1f} | {t.cpu:.1f} | {t.cpu * per:.2f} | "
                f"{t.run_queue:.1f} | {t.blocked:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
