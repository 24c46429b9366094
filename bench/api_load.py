"""The query API under load: does serving 20 concurrent queries slow the ingest?

Two measures, each with 0 and with 20 query clients, alternating, medians of --runs:

- paced: a writer process appends 5,000 lines/s (one write() per line, 50 files in 10
  namespaces, stamped now) for --seconds while `klogtui collect --listen` tails them;
  each line's write -> commit latency comes from the store's commit log afterwards (the
  commit's time minus the time written in the line), p50 and p99 after a warm-up.
- flat out: `klogtui collect --listen` backfills --lines pre-written lines; lines/s
  from its start to /readyz (everything committed), clients querying throughout.

A client (a thread here, one keep-alive connection each) loops over the newest 200 of a
text query, a namespace's newest 200, facets and a histogram; a 503 (the API's slots
are full) is retried after its Retry-After, as a well-behaved client does. Their answers
and latencies are reported too.

    python bench/api_load.py [--runs 3] [--seconds 10] [--lines 300000] [--clients 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

from klogtui.serve.server import announced_port  # noqa: E402
from klogtui.store import commit_log, text_codec  # noqa: E402

_WORDS = "timeout refused checkout payment retry cache miss upstream order user".split()
_QUERIES = (
    "/api/v1/lines?q=timeout&limit=200",
    "/api/v1/lines?q=ns%3Dns3&limit=200",
    "/api/v1/facets?q=refused&field=pod",
    "/api/v1/histogram?q=level%3Derror&buckets=60",
)
FILES, NAMESPACES = 50, 10


def _rfc3339(ns: int) -> str:
    secs, nanos = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def _paths(root: Path) -> list[Path]:
    out = []
    for i in range(FILES):
        d = root / "pods" / f"ns{i % NAMESPACES}_app-{i:02d}_uid-{i:04d}" / "app"
        d.mkdir(parents=True, exist_ok=True)
        (d / "0.log").touch()
        out.append(d / "0.log")
    return out


def _line(seq: int, now: int, rng: random.Random) -> bytes:
    words = " ".join(rng.choices(_WORDS, k=6))
    level = "error" if seq % 50 == 0 else "info"
    return f"{_rfc3339(now)} stdout F level={level} seq={seq} wrote={now} {words}\n".encode()


def prewrite(root: Path, lines: int) -> None:
    rng = random.Random(1)
    paths = _paths(root)
    start = time.time_ns() - lines * 1_000_000
    fhs = [open(p, "ab") for p in paths]  # noqa: SIM115 - closed below
    try:
        for seq in range(lines):
            fhs[seq % FILES].write(_line(seq, start + seq * 1_000_000, rng))
    finally:
        for fh in fhs:
            fh.close()


def write_paced(root: Path, rate: float, seconds: float) -> int:
    """The writer process: `rate` lines/s round-robin over the files, a write() each."""
    rng = random.Random(2)
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in _paths(root)]
    started = time.monotonic()
    seq = 0
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            while seq < int(elapsed * rate):
                os.write(fds[seq % FILES], _line(seq, time.time_ns(), rng))
                seq += 1
            time.sleep(0.002)
    finally:
        for fd in fds:
            os.close(fd)
    return seq


class Collector:
    """`klogtui collect --listen 127.0.0.1:0` in a process of its own."""

    def __init__(self, root: Path, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(root)]
            + ["--db", str(db), "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        self.port = 0
        for line in self.proc.stderr:
            if (port := announced_port(line)) is not None:
                self.port = port
                break
        if not self.port:
            raise RuntimeError("klogtui collect --listen said no address")
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def get(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def stored(self) -> int:
        """Lines in the store (its per-minute counts, through the API)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", "/api/v1/facets?field=namespace")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            return 0
        return sum(n for _, n in json.loads(body)["facets"]["namespace"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


class Clients:
    """n threads querying the API in a loop until stopped."""

    def __init__(self, port: int, n: int) -> None:
        self.port = port
        self.stopping = threading.Event()
        self.ok: list[float] = []
        self.busy = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)
        ]
        for t in self._threads:
            t.start()

    def _loop(self, i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        k = i
        while not self.stopping.is_set():
            path = _QUERIES[k % len(_QUERIES)]
            k += 1
            started = time.monotonic()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                status = 0
            took = time.monotonic() - started
            with self._lock:
                if status == 200:
                    self.ok.append(took)
                elif status == 503:
                    self.busy += 1
                else:
                    self.failed += 1
            if status == 503:
                self.stopping.wait(1.0)  # the API's Retry-After
            elif status != 200:
                self.stopping.wait(0.05)
        conn.close()

    def stop(self) -> None:
        self.stopping.set()
        for t in self._threads:
            t.join(60)


def _commit_latencies(db: Path, warmup_seq: int) -> tuple[list[float], int]:
    """write -> commit seconds of each line after the warm-up, from the commit log
    (kept 60 s), and how many lines the store holds."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        committed_at: dict[int, int] = {}
        for at, blob in conn.execute("SELECT at, ids FROM commit_log"):
            for i in commit_log.ids_of(blob):
                committed_at[i] = at
        out = []
        stored = 0
        text_codec.register(conn)
        sql = f"SELECT id, {text_codec.message_sql('message')} FROM lines"
        for line_id, message in conn.execute(sql):
            stored += 1
            seq = int(message.split("seq=", 1)[1].split()[0])
            wrote = int(message.split("wrote=", 1)[1].split()[0])
            if seq >= warmup_seq and line_id in committed_at:
                out.append((committed_at[line_id] - wrote) / 1e9)
        return out, stored
    finally:
        conn.close()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p / 100) - 1)] if ordered else float("nan")


def paced(seconds: float, clients: int, rate: float = 5000.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        root, db = Path(tmp) / "logs", Path(tmp) / "store.db"
        _paths(root)
        collector = Collector(root, db)
        load = Clients(collector.port, clients) if clients else None
        writer = subprocess.run(
            [sys.executable, __file__, "--writer", str(root), str(rate), str(seconds)],
            capture_output=True,
            text=True,
            check=True,
        )
        written = int(writer.stdout)
        deadline = time.monotonic() + 60
        while collector.stored() < written and time.monotonic() < deadline:
            time.sleep(0.1)
        if load is not None:
            load.stop()
        collector.stop()
        lat, stored = _commit_latencies(db, int(rate * min(2.0, seconds / 4)))
        return {
            "p50": _pct(lat, 50),
            "p99": _pct(lat, 99),
            "stored": stored,
            "written": written,
            "answered": len(load.ok) if load else 0,
            "busy": load.busy if load else 0,
            "failed": load.failed if load else 0,
            "query_p50": _pct(load.ok, 50) if load else float("nan"),
            "query_p99": _pct(load.ok, 99) if load else float("nan"),
        }


def flat_out(data: Path, lines: int, clients: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        db = Path(tmp) / "store.db"
        started = time.monotonic()
        collector = Collector(data, db)
        load = Clients(collector.port, clients) if clients else None
        while collector.get("/readyz") != 200:
            time.sleep(0.02)
        took = time.monotonic() - started
        if load is not None:
            load.stop()
        collector.stop()
        return {"lines_per_s": lines / took, "answered": len(load.ok) if load else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--clients", type=int, default=20)
    args = ap.parse_args()
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-data-") as data:
        prewrite(Path(data), args.lines)
        for run in range(args.runs):
            for n in (0, args.clients) if run % 2 == 0 else (args.clients, 0):
                results.setdefault(("flat", n), []).append(flat_out(Path(data), args.lines, n))
                results.setdefault(("paced", n), []).append(paced(args.seconds, n))
                print(
                    f"run {run + 1}, {n} clients: flat {results[('flat', n)][-1]}, "
                    f"paced {results[('paced', n)][-1]}",
                    flush=True,
                )

    def med(kind: str, n: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(kind, n)])

    c = args.clients
    base, loaded = med("flat", 0, "lines_per_s"), med("flat", c, "lines_per_s")
    print(
        f"\nflat-out ingest of {args.lines:,} lines: {base:,.0f} lines/s alone, "
        f"{loaded:,.0f} with {c} clients ({(1 - loaded / base) * 100:+.1f}% slower)"
    )
    for key in ("p50", "p99"):
        a, b = med("paced", 0, key), med("paced", c, key)
        print(
            f"paced 5,000 lines/s write->commit {key}: {a * 1000:.1f} ms alone, "
            f"{b * 1000:.1f} ms with {c} clients"
        )
    print(
        f"queries answered in {args.seconds:g} s (paced, median of runs): "
        f"{med('paced', c, 'answered'):.0f}, 503s {med('paced', c, 'busy'):.0f}, "
        f"failed {med('paced', c, 'failed'):.0f}; "
        f"query p50 {med('paced', c, 'query_p50') * 1000:.1f} ms, "
        f"p99 {med('paced', c, 'query_p99') * 1000:.1f} ms"
    )
    lost = [
        r["written"] - r["stored"]
        for rs in (results[("paced", 0)], results[("paced", c)])
        for r in rs
    ]
    print(f"paced lines not stored: {max(lost)} at most in a run")
    verdict = "pass" if loaded >= 0.9 * base else "MISS"
    print(f"target: ingest slows <= 10% under {c} concurrent queries: {verdict}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--writer":
        print(write_paced(Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])))
    else:
        main()
