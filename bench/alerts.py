"""Alert rules: what evaluating 50 rules on every commit costs the ingest.

Three measures, each with 0 and with 50 rules, alternating, medians of --runs runs:

- collector: a writer process appends 5,000 lines/s (one write() per line, 50 files
  in 10 namespaces, stamped now) and a `klogtui collect` process tails them with a
  config file of 0 or 50 rules; the collector's CPU seconds (utime + stime from
  /proc) over --seconds after a warm-up. This is the ingest cost as a user pays it.
- paced: the same rate handed straight to a Store's writer in this process (batches
  of 250 every 50 ms): the store's part alone, so the rules' share looks larger.
- flat out: --lines lines submitted as fast as the writer takes them; lines/s until
  all are committed, and how long after that the engine has evaluated them all.

The 50 rules mix what users write: 20 rare words, 10 common words (`timeout`, in
~30% of lines, with a threshold never reached), 10 field-only rules (`level=error
ns=nsN`) and 10 field + phrase rules. No Alertmanager: delivery is not ingest.

    python bench/alerts.py [--runs 3] [--seconds 10] [--lines 200000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

from klogtui.alerts.engine import AlertEngine  # noqa: E402
from klogtui.alerts.rules import Rule, RuleSet, rule_as_toml  # noqa: E402
from klogtui.model import Batch, Level, Record, SourceKey, Stream  # noqa: E402
from klogtui.store import Store  # noqa: E402

_NS = 1_000_000_000
SOURCES = [SourceKey(f"ns{i % 10}", f"pod-{i}", "app", 0, f"uid-{i}") for i in range(50)]


def rules_50() -> tuple[Rule, ...]:
    minute = 60 * _NS
    out = [Rule(f"rare{i}", f"token{i:02d}", 5 * minute, "above", 0) for i in range(20)]
    out += [Rule(f"common{i}", "timeout", 5 * minute, "above", 10**9) for i in range(10)]
    out += [Rule(f"field{i}", f"level=error ns=ns{i}", 5 * minute, "above", 100) for i in range(10)]
    out += [
        Rule(f"phrase{i}", f'ns=ns{i} "connection refused"', 5 * minute, "above", 50)
        for i in range(10)
    ]
    return tuple(out)


def make_batch(rng: random.Random, n: int, now_ns: int, spread_ns: int) -> Batch:
    records = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.3:
            text, level = f"upstream timeout after {rng.randint(1, 999)}ms", Level.WARN
        elif roll < 0.35:
            text, level = "dial tcp 10.0.0.7:5432: connection refused", Level.ERROR
        elif roll < 0.45:
            text, level = f"request failed code={rng.randint(500, 504)}", Level.ERROR
        elif roll < 0.4502:
            text, level = f"rare event token{rng.randint(0, 19):02d}", Level.INFO
        else:
            text, level = f"GET /api/v1/items/{rng.randint(1, 10**6)} 200", Level.INFO
        ts = now_ns - spread_ns + (spread_ns * i) // max(1, n)
        records.append(
            Record(ts, SOURCES[rng.randrange(len(SOURCES))], Stream.STDOUT, text, level, 0)
        )
    return Batch(records)


def message(rng: random.Random) -> str:
    return make_batch(rng, 1, 0, 0).records[0].message


def write_files(root: Path, rate: int, seconds: float) -> None:
    """The writer process: CRI lines at `rate` lines/s over 50 files, stamped now."""
    fds = []
    for key in SOURCES:
        d = root / "pods" / f"{key.namespace}_{key.pod}_{key.pod_uid}" / key.container
        d.mkdir(parents=True, exist_ok=True)
        fds.append(os.open(d / "0.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    rng = random.Random(3)
    started = time.monotonic()
    seq = 0
    while (elapsed := time.monotonic() - started) < seconds:
        while seq < int(elapsed * rate):
            now = time.time_ns()
            secs, nanos = divmod(now, _NS)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"
            line = f"{stamp} stdout F {message(rng)}\n"
            os.write(fds[seq % len(fds)], line.encode())
            seq += 1
        time.sleep(0.002)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collector(rules: tuple[Rule, ...], seconds: float, rate: int, warmup: float = 3.0) -> float:
    """CPU seconds a `klogtui collect` process spends over `seconds` at `rate` lines/s."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = root / "config" / "klogtui" / "config.toml"
        config.parent.mkdir(parents=True)
        if rules:  # none: no config file, no engine (as for a user without rules)
            config.write_text("\n".join(rule_as_toml(r) for r in rules))
        logs = root / "logs"
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(root / "config"),
            "PYTHONPATH": str(_ROOT),
        }
        writer = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(logs), str(rate), str(seconds + warmup)]
        )
        time.sleep(0.5)  # the files exist before the collector looks
        proc = subprocess.Popen(
            [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(logs)]
            + ["--db", str(root / "store.db")],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(warmup)
            before = _cpu_s(proc.pid)
            time.sleep(seconds)
            return _cpu_s(proc.pid) - before
        finally:
            writer.wait()
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def _engine(db: Path, rules: tuple[Rule, ...]) -> AlertEngine | None:
    if not rules:
        return None
    errors: list[str] = []
    engine = AlertEngine(db, RuleSet(rules), lambda where, msg: errors.append(msg))
    engine.start()
    engine.ready.wait(30)
    return engine


def paced(rules: tuple[Rule, ...], seconds: float, rate: int) -> float:
    """CPU seconds this process spends ingesting `rate` lines/s for `seconds`."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        store = Store.open(db)
        engine = _engine(db, rules)
        writer = store.start_writer(on_commit=(lambda _: engine.wake()) if engine else None)
        rng = random.Random(1)
        tick = 0.05
        per_tick = int(rate * tick)
        cpu0 = time.process_time()
        start = time.monotonic()
        ticks = int(seconds / tick)
        for k in range(ticks):
            writer.submit(make_batch(rng, per_tick, time.time_ns(), int(tick * _NS)))
            delay = start + (k + 1) * tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        writer.flush()
        writer.close()
        if engine is not None:
            engine.stop()
        return time.process_time() - cpu0


def flat_out(rules: tuple[Rule, ...], lines: int) -> tuple[float, float]:
    """(lines/s committed, seconds after the last commit until all were evaluated)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        store = Store.open(db)
        engine = _engine(db, rules)
        writer = store.start_writer(on_commit=(lambda _: engine.wake()) if engine else None)
        rng = random.Random(2)
        batches = [make_batch(rng, 1000, time.time_ns(), 60 * _NS) for _ in range(lines // 1000)]
        start = time.perf_counter()
        for b in batches:
            writer.submit(b)
        writer.flush()
        committed = time.perf_counter()
        lag = 0.0
        if engine is not None:
            import sqlite3

            conn = sqlite3.connect(db)
            last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='commit_log'")
            target = int(last.fetchone()[0])
            conn.close()
            while engine.evaluated_seq < target:
                time.sleep(0.005)
            lag = time.perf_counter() - committed
        writer.close()
        if engine is not None:
            engine.stop()
        return lines / (committed - start), lag


def _each(values: list[float], fmt: str = "{:.2f}") -> str:
    return " ".join(fmt.format(v) for v in values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rate", type=int, default=5_000)
    ap.add_argument("--quick", action="store_true", help="toy sizes: checks the script works")
    ap.add_argument("--writer", nargs=3, metavar=("DIR", "RATE", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.writer:
        write_files(Path(args.writer[0]), int(args.writer[1]), float(args.writer[2]))
        return 0
    # The collector's start-up (imports, opening the store, first scan) is left out of
    # its CPU seconds; toy sizes only check that the script works, so a short one will do.
    warmup = 3.0
    if args.quick:
        args.runs, args.seconds, args.lines = 1, 1.0, 5_000
        warmup = 0.5
    sets = {0: (), 50: rules_50()}
    proc_cpu: dict[int, list[float]] = {0: [], 50: []}
    cpu: dict[int, list[float]] = {0: [], 50: []}
    rate: dict[int, list[float]] = {0: [], 50: []}
    lag: list[float] = []
    for _ in range(args.runs):
        for n, rules in sets.items():  # alternating: drift on a shared machine hits both
            proc_cpu[n].append(collector(rules, args.seconds, args.rate, warmup))
            cpu[n].append(paced(rules, args.seconds, args.rate))
            r, lg = flat_out(rules, args.lines)
            rate[n].append(r)
            if n:
                lag.append(lg)
    k0, k50 = statistics.median(proc_cpu[0]), statistics.median(proc_cpu[50])
    c0, c50 = statistics.median(cpu[0]), statistics.median(cpu[50])
    r0, r50 = statistics.median(rate[0]), statistics.median(rate[50])
    runs = f"median of {args.runs}"
    print(f"klogtui collect at {args.rate:,} lines/s for {args.seconds:g}s, CPU seconds ({runs}):")
    print(f"  0 rules: {k0:.2f}   50 rules: {k50:.2f}   cost: {100 * (k50 / k0 - 1):+.1f}%")
    print(f"  (each run: 0 rules {_each(proc_cpu[0])}; 50 rules {_each(proc_cpu[50])})")
    print(f"paced {args.rate:,} lines/s for {args.seconds:g}s, CPU seconds ({runs}):")
    print(f"  0 rules: {c0:.2f}   50 rules: {c50:.2f}   cost: {100 * (c50 / c0 - 1):+.1f}%")
    print(f"  (each run: 0 rules {_each(cpu[0])}; 50 rules {_each(cpu[50])})")
    print(f"flat out, {args.lines:,} lines, lines/s ({runs}):")
    print(f"  0 rules: {r0:,.0f}   50 rules: {r50:,.0f}   cost: {100 * (1 - r50 / r0):+.1f}%")
    print(
        f"  (each run: 0 rules {_each(rate[0], '{:,.0f}')}; 50 rules {_each(rate[50], '{:,.0f}')})"
    )
    print(f"  50 rules evaluated all of it {statistics.median(lag):.2f}s after the last commit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
