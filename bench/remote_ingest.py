"""Remote mode flat out: lines/s stored from 200 log streams against the API double.

    python bench/remote_ingest.py                  # 200 containers x 5,000 lines, 3 runs
    python bench/remote_ingest.py --containers 200 --history 2000 --runs 1

The double (its own process, tests/run_kube_double.py --bulk --history N) holds N
numbered ~100-byte lines per container, written before it serves, and writes no more.
The collector (`KubeCollector`, `--max-streams` = containers, so every stream is open at
once) runs in a fresh process per run with the store's real writer (and the garbage
collector's thresholds `klogtui collect` sets), and the figure is
lines stored (committed) per second from the collector's start until every line is
stored; also the process's CPU seconds per 1,000 lines in that time and the share of
the writer thread's CPU (from /proc: how writer-bound the run was).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klogtui.collect.base import CollectorStats  # noqa: E402
from klogtui.collect.kube.collector import KubeCollector, KubeOptions, KubeTimings  # noqa: E402
from klogtui.store import CommitInfo, Store  # noqa: E402
from tests.run_kube_double import start_bulk  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


def _thread_cpu_s(name: str) -> float:
    """CPU seconds of this process's live threads called `name` (Linux: /proc)."""
    total = 0
    for thread in threading.enumerate():
        if thread.name != name or thread.native_id is None:
            continue
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def one(containers: int, history: int) -> dict[str, Any]:
    """One measurement (run in a fresh process)."""
    gc.set_threshold(100_000, 50, 100)  # as `klogtui collect` and the app set it (cli.py)
    tmp = Path(tempfile.mkdtemp(prefix="klog-remote-ingest-"))
    kubeconfig = tmp / "kubeconfig"
    double = start_bulk(kubeconfig, containers, 0.0, keep_lines=0, history=history)
    try:
        store = Store.open(tmp / "bench.db")
        want = containers * history
        done = threading.Event()
        stored = [0]

        def on_commit(info: CommitInfo) -> None:
            stored[0] = info.total_lines
            if info.total_lines >= want:
                done.set()

        writer = store.start_writer(on_commit=on_commit)
        options = KubeOptions(
            str(kubeconfig), None, ["bench"], False, None, max_streams=containers,
            timings=KubeTimings(),
        )  # fmt: skip
        collector = KubeCollector(options, writer, CollectorStats())
        cpu0 = time.process_time()
        started = time.monotonic()
        collector.start()
        if not done.wait(600):
            raise RuntimeError(f"only {stored[0]:,} of {want:,} lines stored after 600 s")
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu0
        writer_cpu = _thread_cpu_s("klogtui-writer")
        collector.stop()
        collector.join(60)
        writer.close()
        return {
            "lines": stored[0],
            "seconds": seconds,
            "lines_per_s": stored[0] / seconds,
            "cpu_ms_per_1k": cpu / stored[0] * 1e6,
            "writer_cpu_share": writer_cpu / cpu if cpu else 0.0,
        }
    finally:
        double.terminate()
        double.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--history", type=int, default=5000, help="lines per container")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.containers, args.history)))
        return 0
    results = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--containers", str(args.containers),
             "--history", str(args.history)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(
            f"{r['lines']:,} lines in {r['seconds']:.2f} s: {r['lines_per_s']:,.0f} lines/s, "
            f"{r['cpu_ms_per_1k']:.1f} ms CPU per 1,000 lines, writer thread "
            f"{r['writer_cpu_share']:.0%} of the CPU",
            flush=True,
        )
    med = statistics.median(r["lines_per_s"] for r in results)
    print(f"median of {len(results)}: {med:,.0f} lines/s (target >= 120,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
