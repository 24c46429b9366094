"""How much remote mode sustains: 200 containers streaming from the API double.

Not run in CI (`chaos`): it loads both cores for about half a minute. Run with

    KLOG_BENCH_RATE=250 KLOG_BENCH_MAX_STREAMS=200 \
        pytest -m chaos -s tests/system/test_kube_throughput.py

(KLOG_BENCH_SECONDS: measuring window, default 20; KLOG_BENCH_WARMUP: seconds after
caught-up before it, default 3.)

The double runs in its own process (tests/run_kube_double.py --bulk), so the thread
count and memory printed are the collector's process alone: collector + store writer.
Every stored line is checked: per container, the sequence numbers form one gapless run
without duplicates.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import threading
import time
from pathlib import Path

import pytest

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.collector import KubeCollector, KubeOptions, KubeTimings
from klogtui.store import CommitInfo, Store
from tests.run_kube_double import start_bulk
from tests.waiting import wait_for

SEQ_RE = re.compile(r"seq=(\d+)$")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@pytest.mark.chaos
def test_throughput_with_200_containers(tmp_path: Path) -> None:
    rate = float(os.environ.get("KLOG_BENCH_RATE", "250"))  # lines/s per container
    max_streams = int(os.environ.get("KLOG_BENCH_MAX_STREAMS", "200"))
    seconds = float(os.environ.get("KLOG_BENCH_SECONDS", "20"))
    # With fewer streams than containers, turns take a few rounds to reach steady state.
    warmup = float(os.environ.get("KLOG_BENCH_WARMUP", "3"))
    containers = 200
    kubeconfig = tmp_path / "kubeconfig"
    double = start_bulk(kubeconfig, containers, rate, keep_lines=20000, stderr=subprocess.PIPE)
    try:
        produced: list[int] = [0]

        def read_produced() -> None:
            assert double.stderr is not None
            for line in double.stderr:
                if line.startswith("produced "):
                    produced[0] = int(line.split()[1])

        threading.Thread(target=read_produced, daemon=True).start()
        store = Store.open(tmp_path / "bench.db")
        committed = [0]

        def on_commit(info: CommitInfo) -> None:
            committed[0] = info.total_lines

        writer = store.start_writer(on_commit=on_commit)
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
        collector = KubeCollector(options, writer, stats)
        started = time.monotonic()
        collector.start()
        wait_for(collector.caught_up, timeout=60, what="caught up")
        caught_up_s = time.monotonic() - started
        time.sleep(warmup)
        t0, n0 = time.monotonic(), committed[0]
        threads = lags = 0
        samples = 0
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            threads = max(threads, threading.active_count())
            lags = max(lags, int(stats.snapshot().lag_s * 1000))
            samples += 1
        t1, n1 = time.monotonic(), committed[0]
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        double_cpu = sum(
            int(x) for x in Path(f"/proc/{double.pid}/stat").read_text().split()[13:15]
        )
        double_cpu_s = double_cpu / os.sysconf("SC_CLK_TCK")
        rss_now, rss_peak = _rss_kib("VmRSS"), _rss_kib("VmHWM")
        counts = collector.counts()
        collector.stop()
        collector.join(30)
        writer.flush(60)
        writer.close()
        rate_stored = (n1 - n0) / (t1 - t0)
        print(
            f"\noffered {rate * containers:,.0f} lines/s ({containers} containers x {rate:g}), "
            f"max_streams={max_streams}: stored {rate_stored:,.0f} lines/s sustained over "
            f"{t1 - t0:.0f}s after {warmup:g}s warm-up; caught up in {caught_up_s:.1f}s; "
            f"threads {threads} "
            f"(peak, whole process); RSS {rss_now / 1024:.0f} MiB (peak {rss_peak / 1024:.0f} "
            f"MiB); max lag {lags} ms; open streams {counts['open_streams']}; "
            f"produced {produced[0]:,} by the double's last report; stored {committed[0]:,}; "
            f"CPU collector process {cpu.ru_utime + cpu.ru_stime:.1f}s, double "
            f"{double_cpu_s:.1f}s (wall {time.monotonic() - started:.1f}s)"
        )
        reader = store.reader()
        names = {s.id: str(s.key) for s in reader.sources()}
        seqs: dict[str, list[int]] = {}
        for line in reader.oldest("", 100_000_000):
            m = SEQ_RE.search(line.message)
            assert m is not None
            seqs.setdefault(names[line.source_id], []).append(int(m.group(1)))
        reader.close()
        assert len(seqs) == containers
        for name, got in seqs.items():
            assert sorted(got) == list(range(got[0], got[0] + len(got))), name
    finally:
        double.terminate()
        double.wait(10)
