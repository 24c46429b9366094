"""Start the Kubernetes API double by hand, with a few busy pods, for manual tries.

    python tests/run_kube_double.py [--pods 6] [--rate 5] [--restart-every 20]

prints the kubeconfig path, then serves until Ctrl-C. Try:

    klogtui collect --kubeconfig PATH -A --db /tmp/kube.db
    klogtui --kubeconfig PATH -A
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kube_double import FakeCluster, KubeDouble  # noqa: E402

MESSAGES = [
    "INFO GET /api/cart 200 {ms}ms",
    "INFO order {n} accepted",
    "WARN slow query took {ms}ms",
    "ERROR payment gateway timeout after {ms}ms",
    '{{"level":"info","msg":"heartbeat","seq":{n}}}',
    'level=debug msg="cache refresh" keys={n}',
]


def start_bulk(
    kubeconfig: Path,
    pods: int,
    rate: float,
    keep_lines: int,
    rotate_bytes: int | None = None,
    stderr: int = subprocess.DEVNULL,
    history: int = 0,
) -> subprocess.Popen[str]:
    """This script as a process: `pods` one-container pods in namespace `bench`, each
    writing `rate` lines/s (--bulk). Returns once the double serves (its kubeconfig is
    written); the caller stops it. With stderr=PIPE the caller reads its `produced N`.
    `history` lines per container are written before it serves (see --history)."""
    args = ["--bulk", "--namespaces", "bench", "--pods", str(pods), "--containers", "1"]
    args += ["--rate", str(rate), "--keep-lines", str(keep_lines), "--kubeconfig", str(kubeconfig)]
    if rotate_bytes is not None:
        args += ["--rotate-bytes", str(rotate_bytes)]
    if history:
        args += ["--history", str(history)]
    double = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    assert double.stdout is not None and double.stdout.readline().strip()
    return double


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=6, help="pods per namespace (default 6)")
    parser.add_argument(
        "--namespaces", default="shop,payments", help="comma-separated (default shop,payments)"
    )
    parser.add_argument(
        "--containers",
        type=int,
        default=0,
        help="containers per pod (default: 2 in even pods, 1 in odd ones)",
    )
    parser.add_argument(
        "--rate", type=float, default=5.0, help="lines per second per container (default 5)"
    )
    parser.add_argument(
        "--restart-every",
        type=float,
        default=20.0,
        metavar="S",
        help="restart a random container every S seconds (0: never)",
    )
    parser.add_argument(
        "--churn-every",
        type=float,
        default=15.0,
        metavar="S",
        help="replace a random pod every S seconds (0: never)",
    )
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="emit numbered ~100-byte lines in bulk, no restarts or churn (throughput runs)",
    )
    parser.add_argument(
        "--keep-lines",
        type=int,
        default=20_000,
        help="lines kept per container instance, like log rotation (default 20000)",
    )
    parser.add_argument(
        "--rotate-bytes",
        type=int,
        default=0,
        help="rotate each container's log file at this size, like the kubelet (0: never)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="N",
        help="lines each container wrote before the double serves, about 1 ms apart "
        "(at random within each ms, as independent writers are), numbered like --bulk's "
        "(a backfill to read; default 0)",
    )
    parser.add_argument("--kubeconfig", type=Path, help="where to write the kubeconfig")
    args = parser.parse_args()

    double = KubeDouble(FakeCluster(bookmark_interval_s=30.0, keep_lines=args.keep_lines))
    double.start()
    c = double.cluster
    rng = random.Random(1)
    pods: list[tuple[str, str]] = []
    for ns in args.namespaces.split(","):
        for i in range(args.pods):
            name = f"{ns[:4]}-{i}"
            if args.containers:
                containers = tuple(["app"] + [f"side{k}" for k in range(1, args.containers)])
            else:
                containers = ("app", "proxy") if i % 2 == 0 else ("app",)
            c.add_pod(
                ns,
                name,
                containers,
                labels={"app": ns[:4], "tier": "web" if i else "db"},
                node=f"node-{i % 3 + 1}",
                rotate_bytes=args.rotate_bytes,
            )
            pods.append((ns, name))
    payload = "INFO bench request served path=/api/v1/items status=200 bytes=5120 took=12ms"
    if args.history:
        start_ns = time.time_ns() - args.history * 1_000_000
        for ns, name in pods:
            for cname, container in c.pods[(ns, name)].containers.items():
                for k in range(args.history):
                    ts = start_ns + k * 1_000_000 + rng.randrange(1_000_000)
                    c.log(ns, name, cname, f"{payload} seq={k}", ts)
                container.seq = args.history
    path = args.kubeconfig or Path(tempfile.mkdtemp(prefix="kube-double-")) / "kubeconfig"
    double.kubeconfig(path)
    print(path, flush=True)
    print(f"serving {double.url}: {len(pods)} pods; Ctrl-C to stop", file=sys.stderr)

    stop = threading.Event()
    generation = [0]
    produced = [0]

    def bulk() -> None:
        # Bulky ticks: one wake-up per stream per tick keeps the double's own CPU low.
        tick = 0.1
        owed = 0.0
        last = time.monotonic()
        while not stop.wait(tick):
            now = time.monotonic()
            owed += args.rate * (now - last)  # the loop itself takes time too
            last = now
            n = int(owed)
            if not n:
                continue
            owed -= n
            for ns, name in pods:
                for cname in c.pods[(ns, name)].containers:
                    c.emit(ns, name, cname, n, payload)
                    produced[0] += n

    def report() -> None:
        while not stop.wait(5.0):
            print(f"produced {produced[0]}", file=sys.stderr, flush=True)

    def talk() -> None:
        period = 1.0 / max(args.rate, 0.001)
        n = 0
        while not stop.wait(period):
            with c.lock:
                for ns, name in list(pods):
                    pod = c.pods.get((ns, name))
                    if pod is None:
                        continue
                    for cname, container in pod.containers.items():
                        inst = container.current()
                        if inst is None or not inst.running:
                            continue
                        n += 1
                        text = rng.choice(MESSAGES).format(ms=rng.randint(1, 900), n=n)
                        c.log(ns, name, cname, text)

    def disturb() -> None:
        next_restart = time.monotonic() + (args.restart_every or 1e12)
        next_churn = time.monotonic() + (args.churn_every or 1e12)
        while not stop.wait(0.2):
            now = time.monotonic()
            if now >= next_restart:
                next_restart = now + args.restart_every
                ns, name = rng.choice(pods)
                c.restart(ns, name, "app")
            if now >= next_churn:
                next_churn = now + args.churn_every
                i = rng.randrange(len(pods))
                ns, name = pods[i]
                c.delete_pod(ns, name)
                generation[0] += 1
                new = f"{name.split('-g')[0]}-g{generation[0]}"
                c.add_pod(ns, new, labels={"app": ns[:4], "tier": "web"})
                pods[i] = (ns, new)

    jobs = (bulk, report) if args.bulk else (talk, disturb)
    threads = [threading.Thread(target=f, daemon=True) for f in jobs]
    for t in threads:
        t.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop.set()
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
