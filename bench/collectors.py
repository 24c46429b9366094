"""Remote proxy mode: `klogtui query --collectors` over three nodes through the pod proxy.

Three real `klogtui collect --listen` processes ("nodes"), each over a kubelet-style tree
of --lines lines (interleaved in time with the other nodes'), sit behind the API double
(tests/kube_double) and its pod proxy, registered as deploy/'s collector pods. Measured,
medians of --runs, each beside a same-run baseline: the same work on ONE local store of
the same 3 x --lines lines (`klogtui collect --once` over the three trees together).

- newest 200 of a text query: the wall time of the `klogtui query` process
  (`--collectors` vs `--db`), start to exit (target <= 300 ms at 1M lines per node);
- first screen of the explorer (`--collectors` vs the one store): from spawning a
  process until its log pane shows the newest lines under Pilot (imports, connecting,
  finding the collectors and the first reads included; target <= 1.5 s);
- write on a node -> printed: a line appended to a node's file until the running
  `klogtui query --collectors -f` prints it, p50/p99 (target p99 <= 1 s); baseline: `-f`
  on that node's own store.

The nodes' API runs open here (loopback, no --kubeconfig): the callers' TokenReview is
cached for 30 s by the collectors, so it would not show in these medians.

    python bench/collectors.py [--lines 200000] [--runs 5] [--writes 50]

The "on screen" latency of the brief is measured for `query -f` (printed), not for the
explorer's pane.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klogtui.serve.server import announced_port  # noqa: E402
from tests.kube_double import FakeCluster, KubeDouble  # noqa: E402

NODES, FILES = 3, 30
NS = "klogtui"
LABELS = {"app.kubernetes.io/name": "klogtui", "app.kubernetes.io/component": "collector"}
WORDS = "checkout payment retry cache miss upstream order user refused".split()
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def _ts(ns: int) -> str:
    secs, nanos = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def _file(tree: Path, node: int, i: int) -> Path:
    d = tree / "pods" / f"ns{i % 5}_app-{node}-{i:02d}_uid-{node}-{i:04d}" / "app"
    d.mkdir(parents=True, exist_ok=True)
    return d / "0.log"


def prewrite(tree: Path, node: int, lines: int) -> None:
    """`lines` lines on one node; seq s of node n is stamped at (s * NODES + n) ms ago."""
    start = time.time_ns() - (lines * NODES + 10) * 1_000_000
    fhs = [open(_file(tree, node, i), "ab") for i in range(FILES)]  # noqa: SIM115
    try:
        for s in range(lines):
            g = s * NODES + node
            text = " ".join(WORDS[(g * 7 + k) % len(WORDS)] for k in range(5))
            if g % 29 == 0:
                text += " timeout"
            fhs[s % FILES].write(f"{_ts(start + g * 1_000_000)} stdout F seq={g} {text}\n".encode())
    finally:
        for fh in fhs:
            fh.close()


def klogtui(*args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "klogtui", *args],
        text=True,
        env=ENV,
        **kw,  # type: ignore[call-overload]
    )


class Node:
    def __init__(self, tree: Path, db: Path) -> None:
        self.tree = tree
        self.proc = klogtui(
            "collect",
            "--log-dir",
            str(tree),
            "--db",
            str(db),
            "--listen",
            "127.0.0.1:0",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        self.port = 0
        for line in self.proc.stderr:
            if (port := announced_port(line)) is not None:
                self.port = port
                break
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def ready(self) -> bool:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def timed_query(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", *args],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    took = time.perf_counter() - started
    if done.returncode != 0 or len(done.stdout.splitlines()) != 200:
        raise RuntimeError(f"query failed ({done.returncode}): {done.stderr[-500:]}")
    return took


def write_to_printed(follow_args: list[str], target: Path, writes: int) -> list[float]:
    """Latencies from appending a line to `target` until the -f process prints it."""
    proc = klogtui(
        "query",
        "-f",
        "--limit",
        "1",
        *follow_args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    got: queue.Queue[tuple[float, str]] = queue.Queue()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            got.put((time.perf_counter(), line))

    threading.Thread(target=drain, daemon=True).start()
    got.get(timeout=120)  # the newest line: following has begun
    out: list[float] = []
    try:
        for w in range(writes):
            mark = f"probe-{w}-{time.time_ns()}"
            sent = time.perf_counter()
            with open(target, "ab") as fh:
                fh.write(f"{_ts(time.time_ns())} stdout F seq=-1 {mark}\n".encode())
            while True:
                at, line = got.get(timeout=60)
                if mark in line:
                    out.append(at - sent)
                    break
            time.sleep(0.05)  # pacing between probes, not a wait for a result
    finally:
        proc.kill()
        proc.wait(60)
    return out


def first_screen(target: list[str]) -> float:
    """Seconds from spawning a child to its explorer's first screen of lines."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, __file__, "--child-first-screen", str(started), *target],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"first screen failed: {done.stderr[-800:]}")
    return float(done.stdout.split()[-1])


def _child_first_screen(started: float, target: list[str]) -> None:
    import asyncio

    from klogtui.remote.command import open_collectors
    from klogtui.remote.reader import open_cluster
    from klogtui.store import Store
    from klogtui.store.reads import ReaderSource
    from klogtui.ui.app import KlogApp

    async def run() -> float:
        source: ReaderSource
        if target[0] == "--kubeconfig":
            args = argparse.Namespace(kubeconfig=target[1], context=None, collectors_namespace=NS)
            source = open_cluster(*open_collectors(args), NS)
        else:
            source = Store.open(target[1])
        app = KlogApp(source, history_path=None)
        async with app.run_test(size=(160, 45)) as pilot:
            view = app.log_view
            while (
                view.is_loading
                or not view.window
                or not any(r.strip() for r in view.rendered_rows())
            ):
                await asyncio.sleep(0.002)
            await pilot._wait_for_screen()
            return time.time() - started

    print(asyncio.run(run()))
    os._exit(0)  # the remote readers' tails are daemon threads: no wait for them


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=200_000, help="lines per node")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--writes", type=int, default=50)
    args = ap.parse_args()
    cluster = FakeCluster(token="reader-token")
    with tempfile.TemporaryDirectory(prefix="bench-collectors-") as tmp, KubeDouble(cluster) as d:
        root = Path(tmp)
        kubeconfig = d.kubeconfig(root / "kubeconfig")
        t0 = time.perf_counter()
        trees = [root / f"node-{i}" / "logs" for i in range(NODES)]
        for i, tree in enumerate(trees):
            prewrite(tree, i, args.lines)
        # The baseline: one store of all the lines (the three trees' pods side by side).
        one = root / "one" / "logs"
        for tree in trees:
            for pod in (tree / "pods").iterdir():
                (one / "pods").mkdir(parents=True, exist_ok=True)
                os.symlink(pod, one / "pods" / pod.name)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "klogtui",
                "collect",
                "--once",
                "--log-dir",
                str(one),
                "--db",
                str(root / "one.db"),
            ],
            env=ENV,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        nodes = [Node(tree, tree.parent / "store.db") for tree in trees]
        try:
            for i, n in enumerate(nodes):
                cluster.add_pod(
                    NS,
                    f"collector-{i}",
                    ("collector",),
                    labels=LABELS,
                    node=f"node-{i}",
                    ports={"api": n.port},
                )
                with cluster.lock:
                    cluster.pod_hosts[(NS, f"collector-{i}")] = "127.0.0.1"
            deadline = time.monotonic() + 3600
            while not all(n.ready() for n in nodes):
                assert time.monotonic() < deadline, "nodes never ready"
                time.sleep(0.2)
            print(f"built 3 x {args.lines:,} lines in {time.perf_counter() - t0:.0f} s", flush=True)
            remote = ["--kubeconfig", str(kubeconfig), "--collectors"]
            local = ["--db", str(root / "one.db")]
            r_q: list[float] = []
            l_q: list[float] = []
            for _ in range(args.runs):
                r_q.append(timed_query(*remote, "--limit", "200", "timeout"))
                l_q.append(timed_query(*local, "--limit", "200", "timeout"))
            r_s: list[float] = []
            l_s: list[float] = []
            for _ in range(args.runs):
                r_s.append(first_screen(["--kubeconfig", str(kubeconfig)]))
                l_s.append(first_screen(["--db", str(root / "one.db")]))
            target = _file(trees[1], 1, 0)
            r_w = write_to_printed(remote, target, args.writes)
            l_w = write_to_printed(
                ["--db", str(nodes[1].tree.parent / "store.db")], target, args.writes
            )
        finally:
            for n in nodes:
                n.stop()
    rq, lq = statistics.median(r_q), statistics.median(l_q)
    print(
        f"newest 200 of a text query, `klogtui query` process, 3 x {args.lines:,} lines: "
        f"--collectors {rq * 1000:.0f} ms, one local store {lq * 1000:.0f} ms (medians of "
        f"{args.runs}); target <= 300 ms: {'pass' if rq <= 0.3 else 'MISS'}"
    )
    rs, ls = statistics.median(r_s), statistics.median(l_s)
    print(
        f"first screen of the explorer, 3 x {args.lines:,} lines: --collectors "
        f"{rs * 1000:.0f} ms, one local store {ls * 1000:.0f} ms (medians of {args.runs}, "
        f"process spawn included); target <= 1.5 s: {'pass' if rs <= 1.5 else 'MISS'}"
    )
    print(
        f"write on a node -> printed by query -f, {args.writes} writes: --collectors p50 "
        f"{pct(r_w, 0.5) * 1000:.0f} ms p99 {pct(r_w, 0.99) * 1000:.0f} ms; the node's own "
        f"store p50 {pct(l_w, 0.5) * 1000:.0f} ms p99 {pct(l_w, 0.99) * 1000:.0f} ms; "
        f"target p99 <= 1 s: {'pass' if pct(r_w, 0.99) <= 1.0 else 'MISS'}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child-first-screen":
        _child_first_screen(float(sys.argv[2]), sys.argv[3:])
    else:
        main()
