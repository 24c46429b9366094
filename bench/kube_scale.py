"""Remote mode at cluster scale: lag, loss, threads and memory against the API double.

    python bench/kube_scale.py                     # 300 and 1,000 containers, each with
                                                   # --max-streams 50 and 1000, 3 runs each
    python bench/kube_scale.py --containers 300 --max-streams 50 --runs 1 --seconds 20

Every container writes 5 numbered lines/s (about 100 bytes each). The double runs in
its own process (tests/run_kube_double.py --bulk), and each measurement runs the
collector in a fresh process of its own, so the threads and RSS are the collector's
and the store writer's alone. After caught-up and a warm-up, for `--seconds`:

- lag: for each line, the time it is handed to the store's writer minus the
  timestamp the container wrote it with (p50 and p99 over every line of the window);
  the writer's own commit time comes on top (its p99 is printed too);
- lost unmarked: per container, numbered lines missing inside the stored run that no
  gap marker covers (target 0); gap markers are counted apart;
- threads (peak) and RSS (peak) of the collector's process.

Log files rotate at the kubelet's default 10 MiB unless --rotate-bytes says otherwise
(a small size shows how turn-taking copes with rotation: losses become gap markers).
"""

from __future__ import annotations

import argparse
import json
import re
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
from klogtui.gaps import parse_gap  # noqa: E402
from klogtui.model import Batch, Flag  # noqa: E402
from klogtui.store import CommitInfo, Store  # noqa: E402
from tests.run_kube_double import start_bulk  # noqa: E402

SEQ_RE = re.compile(r"seq=(\d+)$")
RATE = 5.0  # lines/s per container


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LagSink:
    """Hands batches to the writer, noting each line's age when handed over."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.measuring = False
        self.lags: list[float] = []

    def submit(self, batch: Batch) -> None:
        if self.measuring:
            now = time.time_ns()
            self.lags.extend((now - r.ts) / 1e9 for r in batch.records if not r.flags & Flag.GAP)
        self.writer.submit(batch)


def one(
    containers: int, max_streams: int, seconds: float, warmup: float, rotate: int
) -> dict[str, Any]:
    """One measurement (run in a fresh process)."""
    tmp = Path(tempfile.mkdtemp(prefix="klog-kube-scale-"))
    kubeconfig = tmp / "kubeconfig"
    double = start_bulk(kubeconfig, containers, RATE, keep_lines=0, rotate_bytes=rotate)
    try:
        store = Store.open(tmp / "bench.db")
        commit_s: list[float] = []

        def on_commit(info: CommitInfo) -> None:
            commit_s.append(info.seconds)

        writer = store.start_writer(on_commit=on_commit)
        sink = LagSink(writer)
        stats = CollectorStats()
        options = KubeOptions(
            str(kubeconfig),
            None,
            ["bench"],
            False,
            None,
            max_streams=max_streams,
            timings=KubeTimings(),
        )
        collector = KubeCollector(options, sink, stats)
        started = time.monotonic()
        collector.start()
        while not collector.caught_up():
            if time.monotonic() - started > 300:
                raise RuntimeError("not caught up after 300 s")
            time.sleep(0.1)
        caught_up_s = time.monotonic() - started
        time.sleep(warmup)
        sink.measuring = True
        commit_s.clear()
        t0 = time.monotonic()
        threads = 0
        notice = ""
        while time.monotonic() - t0 < seconds:
            time.sleep(0.5)
            threads = max(threads, threading.active_count())
            notice = stats.snapshot().notice or notice
        sink.measuring = False
        rss_peak = _status_kib("VmHWM")
        collector.stop()
        collector.join(60)
        writer.flush(120)
        writer.close()
        lost, gaps, stored = _losses(store)
        return {
            "containers": containers,
            "max_streams": max_streams,
            "lag_p50_s": percentile(sink.lags, 0.50),
            "lag_p99_s": percentile(sink.lags, 0.99),
            "commit_p99_s": percentile(commit_s, 0.99),
            "lines_measured": len(sink.lags),
            "lost_unmarked": lost,
            "gap_markers": gaps,
            "stored": stored,
            "threads_peak": threads,
            "rss_peak_mib": rss_peak / 1024,
            "caught_up_s": caught_up_s,
            "notice": notice,
        }
    finally:
        double.terminate()
        double.wait(30)


def _losses(store: Store) -> tuple[int, int, int]:
    """(numbered lines missing inside each container's stored run and outside every gap
    marker, gap markers, lines stored)."""
    reader = store.reader()
    try:
        per: dict[int, list[tuple[int, int]]] = {}
        gaps: dict[int, list[tuple[int, int]]] = {}
        stored = 0
        for line in reader.oldest("", 100_000_000):
            if line.flags & Flag.GAP:
                g = parse_gap(line.message)
                if g is not None:
                    gaps.setdefault(line.source_id, []).append(g)
                continue
            m = SEQ_RE.search(line.message)
            if m is not None:
                per.setdefault(line.source_id, []).append((int(m.group(1)), line.ts))
                stored += 1
    finally:
        reader.close()
    lost = 0
    for sid, seen in per.items():
        seen.sort()
        for (a, ts_a), (b, ts_b) in zip(seen, seen[1:], strict=False):
            if b - a > 1 and not any(g[0] <= ts_b and g[1] >= ts_a for g in gaps.get(sid, [])):
                lost += b - a - 1
    return lost, sum(len(v) for v in gaps.values()), stored


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--containers", default="300,1000")
    parser.add_argument("--max-streams", default="50,1000")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rotate-bytes", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = one(
            int(args.containers),
            int(args.max_streams),
            args.seconds,
            args.warmup,
            args.rotate_bytes,
        )
        print(json.dumps(result))
        return 0
    rows = []
    for containers in (int(x) for x in args.containers.split(",")):
        for streams in (int(x) for x in args.max_streams.split(",")):
            results = []
            for _ in range(args.runs):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--one",
                        "--containers",
                        str(containers),
                        "--max-streams",
                        str(streams),
                        "--seconds",
                        str(args.seconds),
                        "--warmup",
                        str(args.warmup),
                        "--rotate-bytes",
                        str(args.rotate_bytes),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            rows.append(results)
    print(
        "| containers | --max-streams | lag p50 | lag p99 | commit p99 | lost unmarked "
        "| gap markers | threads | RSS | runs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for results in rows:

        def med(key: str, results: list[dict[str, Any]] = results) -> float:
            return float(statistics.median(r[key] for r in results))

        r0 = results[0]
        print(
            f"| {r0['containers']:,} | {r0['max_streams']:,} | {med('lag_p50_s'):.2f} s "
            f"| {med('lag_p99_s'):.2f} s | {med('commit_p99_s'):.3f} s "
            f"| {med('lost_unmarked'):.0f} | {med('gap_markers'):.0f} "
            f"| {med('threads_peak'):.0f} | {med('rss_peak_mib'):.0f} MiB | {len(results)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
