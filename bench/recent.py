"""Recent first: how long after `klogtui collect --log-dir` starts the newest 15 minutes
of every container are queryable, with days of rotated history on disk.

The tree (cached under ``bench/data/recent-<lines>-s<seed>``): 100 containers, each a
live ``0.log`` and four rotations ``0.log.<stamp>`` of 10,000 CRI lines (about 100 bytes:
logfmt, JSON and plain, stdout and stderr), 5M lines in all, every container's lines
spread evenly over the same 24 hours and ending at the same instant. The rotations are
left uncompressed (kubelet gzips all but the newest): both sides would pay the same
decompression, and it would only slow the generation.

The measure: a fresh store; `klogtui collect` started as a user would; the store polled
(a read connection, as `klogtui query` and the explorer read it) until every container
has all its lines of the last 15 minutes. `collect` runs the same collector, writer and
store as `klogtui --log-dir`; the explorer shows what its store holds, so what is
queryable is what the explorer can show (its start adds the same to both sides).
The explorer itself is measured too (klogtui only): `klogtui --log-dir` started in a
160x45 tmux window, until the store holds those lines and the screen, captured after
that, shows the newest lines (the issue's "on screen within 3 s").

The baseline is the code without recent first (commit fccaf4f, before issue 12: a full
backfill, oldest first, then follow): the source tree at the revision given (``git archive``),
run the same way in the same run, alternating with klogtui's.

Run it alone: ``python bench/recent.py [--runs 3] [--baseline-rev fccaf4f]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from klogtui.store.ids import id_for_ts

__all__ = ["RecentResult", "baseline_tree", "generate_history", "run_recent"]

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "bench" / "data"
CONTAINERS = 100
FILES = 5
LINES_PER_FILE = 10_000
SPAN_S = 24 * 3600
WINDOW_S = 15 * 60
END_NS = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z: the newest line of each


@dataclass(frozen=True, slots=True)
class RecentResult:
    """Seconds from start until the newest 15 minutes of every container were
    queryable, per run, for klogtui and for the baseline."""

    klogtui: list[float]
    baseline: list[float]
    explorer: list[float]  # the same until on `klogtui --log-dir`'s screen (tmux)
    recent_lines: int
    total_lines: int


def _ts_text(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _message(rng: random.Random, i: int) -> tuple[str, str]:
    kind = rng.random()
    if kind < 0.4:
        level = rng.choice(("info", "info", "info", "warn", "error", "debug"))
        text = (
            f'level={level} msg="request served" path=/api/v1/items/{rng.randrange(10**6)} '
            f"status={rng.choice((200, 200, 201, 404, 500))} ms={rng.randrange(1, 900)}"
        )
    elif kind < 0.7:
        text = json.dumps(
            {"level": rng.choice(("INFO", "WARN", "ERROR")), "msg": "job step", "n": i},
            separators=(",", ":"),
        )
    else:
        text = f"I1119 07:46:40.{i % 1_000_000:06d}   1 controller.go:{rng.randrange(900)}] synced"
    return ("stderr" if kind > 0.9 else "stdout"), text


def generate_history(seed: int = 1, data_dir: Path = DATA_DIR) -> tuple[Path, dict[str, int]]:
    """The cached tree, and its manifest: lines in all, and of the last 15 minutes."""
    total = CONTAINERS * FILES * LINES_PER_FILE
    root = data_dir / f"recent-{total}-s{seed}"
    manifest = root / "manifest.json"
    if manifest.exists():
        return root, json.loads(manifest.read_text())
    if root.exists():
        shutil.rmtree(root)  # a half-written tree from an interrupted run
    rng = random.Random(seed)
    per_container = FILES * LINES_PER_FILE
    step = SPAN_S * 1_000_000_000 // per_container
    cut_ns = END_NS - WINDOW_S * 1_000_000_000
    recent = 0
    for c in range(CONTAINERS):
        d = root / "pods" / f"bench_app-{c:03d}-7d9f_uid-{c:04d}" / "app"
        d.mkdir(parents=True)
        offset = rng.randrange(step)  # containers do not write in lockstep
        first = END_NS - (per_container - 1) * step
        for f in range(FILES):
            name = "0.log" if f == FILES - 1 else f"0.log.20261118-{f:06d}"
            out = []
            for i in range(f * LINES_PER_FILE, (f + 1) * LINES_PER_FILE):
                ts = first + i * step - (offset if i < per_container - 1 else 0)
                recent += ts >= cut_ns
                stream, text = _message(rng, i)
                out.append(f"{_ts_text(ts)} {stream} F {text}\n")
            (d / name).write_text("".join(out))
    info = {"lines": total, "recent": recent, "cut_ns": cut_ns, "containers": CONTAINERS}
    manifest.write_text(json.dumps(info))
    return root, info


# The last commit before the work on ingest speed, size and recent first (issue 12): the
# "before" that bench/run.py and this bench measure beside the code under test.
BEFORE = "fccaf4f"


def baseline_tree(rev: str, dest: Path) -> Path:
    """The package at git revision rev, unpacked in dest (returned: its PYTHONPATH)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "klogtui"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _recent_counts(db: Path, cut_id: int) -> dict[int, int]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return {}
    try:
        rows = con.execute(
            "SELECT source_id, count(*) FROM lines WHERE id >= ? GROUP BY source_id", (cut_id,)
        ).fetchall()
        return dict(rows)
    except sqlite3.Error:
        return {}  # not created yet
    finally:
        con.close()


def time_to_recent(
    code: Path, log_dir: Path, db: Path, info: dict[str, int], timeout: float = 900
) -> float:
    """Seconds from starting `klogtui collect` (the package at `code`) until the store
    holds every line of the last 15 minutes of every container."""
    cut_id = id_for_ts(info["cut_ns"])
    argv = [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(log_dir), "--db", str(db)]
    env = {"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin", "NODE_NAME": "bench"}
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            counts = _recent_counts(db, cut_id)
            if len(counts) >= info["containers"] and sum(counts.values()) >= info["recent"]:
                return time.monotonic() - started
            if proc.poll() is not None:
                raise RuntimeError(f"klogtui collect exited with {proc.returncode}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the recent lines were not all stored in {timeout:.0f} s")
            time.sleep(0.05)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def time_to_screen(
    code: Path, log_dir: Path, db: Path, info: dict[str, int], timeout: float = 120
) -> float:
    """Seconds from starting the explorer (`klogtui --log-dir`, the package at `code`, in
    a 160x45 tmux window) until the store holds every line of the last 15 minutes of
    every container AND the screen, captured after that, shows the newest instant's lines
    (the log pane follows the newest lines; the rest of the 15 minutes is what scrolling
    back reads from that store)."""
    cut_id = id_for_ts(info["cut_ns"])
    newest = _ts_text(END_NS)[11:23]  # "11:06:40.000", as the log pane shows it (UTC)
    session = f"bench-recent-{os.getpid()}-{time.monotonic_ns()}"
    command = " ".join(
        [
            f"PYTHONPATH={shlex.quote(str(code))} NODE_NAME=bench TZ=UTC",
            shlex.quote(sys.executable),
            "-m klogtui --log-dir",
            shlex.quote(str(log_dir)),
            "--db",
            shlex.quote(str(db)),
        ]
    )
    tmux = ["tmux", "-L", session]
    started = time.monotonic()
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "45", command], check=True
    )
    try:
        while True:
            counts = _recent_counts(db, cut_id)
            stored = len(counts) >= info["containers"] and sum(counts.values()) >= info["recent"]
            if stored:
                screen = subprocess.run(
                    [*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True
                ).stdout
                if newest in screen:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the recent lines were not all on screen in {timeout:.0f} s")
            time.sleep(0.05)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def run_recent(
    runs: int,
    baseline_rev: str,
    seed: int = 1,
    data_dir: Path = DATA_DIR,
    log: Callable[[str], None] = print,
) -> RecentResult:
    """Alternate baseline and klogtui runs on fresh stores; seconds per run."""
    log_dir, info = generate_history(seed, data_dir)
    ours, theirs, screen = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-recent-", dir=data_dir) as tmp:
        base = baseline_tree(baseline_rev, Path(tmp) / "baseline")
        for i in range(runs):
            for name, code, out in (("baseline", base, theirs), ("klogtui", REPO, ours)):
                db = Path(tmp) / f"{name}-{i}.db"
                out.append(time_to_recent(code, log_dir, db, info))
                for p in db.parent.glob(db.name + "*"):
                    p.unlink()
                log(f"  recent run {i + 1}/{runs}: {name} {out[-1]:,.2f} s")
            db = Path(tmp) / f"explorer-{i}.db"
            screen.append(time_to_screen(REPO, log_dir, db, info))
            for p in db.parent.glob(db.name + "*"):
                p.unlink()
            log(f"  recent run {i + 1}/{runs}: explorer on screen {screen[-1]:,.2f} s")
    return RecentResult(ours, theirs, screen, info["recent"], info["lines"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--baseline-rev", default=BEFORE, help="git revision without recent first")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    r = run_recent(args.runs, args.baseline_rev, args.seed, log=lambda m: print(m, flush=True))
    print(
        f"newest 15 min of {CONTAINERS} containers ({r.recent_lines:,} of {r.total_lines:,} "
        f"lines) queryable after: klogtui median {statistics.median(r.klogtui):.2f} s "
        f"{r.klogtui}, baseline median {statistics.median(r.baseline):.2f} s {r.baseline}; "
        f"on the explorer's screen: median {statistics.median(r.explorer):.2f} s {r.explorer}"
    )


if __name__ == "__main__":
    main()
