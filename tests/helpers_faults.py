"""Fault-injection helpers: a runtime-like writer process that rotates its files at a
high rate, `klogtui collect` as a subprocess, another process holding the store's write
lock, and an exact tally of stored lines.

The writer (``python -m tests.helpers_faults ROOT --method M ...``) writes numbered CRI
lines (``seq=<n>``, timestamps strictly increasing per container) into
``ROOT/pods/faults_pod<i>_uid<i>/app/0.log`` and rotates them the way a node does:

- ``rename``: kubelet renames ``0.log`` to ``0.log.<stamp>``; the runtime writes a few
  more lines to the renamed file, then reopens ``0.log``;
- ``gzip``: ``rename``, then every rotation but the newest is gzipped via ``.tmp``;
- ``copytruncate``: the file is copied to ``0.log.<stamp>``, then truncated in place;
- ``tmp-rename``: conmon's replacement: a new file is written as ``0.log.tmp`` and
  renamed over ``0.log`` (no rotated sibling: the old inode is deleted).

It never deletes a file whose lines it wrote (except the inode that ``tmp-rename``
replaces, whose lines a running collector has open), so every line it counts can be
expected in the store. At the end it writes ``ROOT/counts.json``:
``{"pods": {pod: lines}, "rotations": n, "seconds": elapsed}``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klogtui.model import SourceKey
from klogtui.store import Store
from tests.helpers_files import seq_of, stored

METHODS = ("rename", "gzip", "copytruncate", "tmp-rename")
REPO = Path(__file__).resolve().parents[1]
_STAMP0 = datetime(2026, 11, 19, tzinfo=UTC)


def stamp(n: int) -> str:
    """The n-th rotation's kubelet stamp (they sort in rotation order)."""
    return (_STAMP0 + timedelta(seconds=n)).strftime("%Y%m%d-%H%M%S")


class _Writer:
    """One container's runtime: appends lines, rotates by `method`."""

    def __init__(self, root: str, i: int, method: str, rng: random.Random) -> None:
        self.pod = f"pod{i}"
        self.method = method
        self.rng = rng
        self.dir = os.path.join(root, "pods", f"faults_pod{i}_uid{i}", "app")
        os.makedirs(self.dir)
        self.live = os.path.join(self.dir, "0.log")
        self.seq = 0
        self.in_file = 0
        self.last_ts = 0
        self.rotations = 0
        self.fd = self._open(self.live)

    @staticmethod
    def _open(path: str, flags: int = 0) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | flags, 0o644)

    def chunk(self, n: int) -> bytes:
        out = []
        for _ in range(n):
            ts = self.last_ts = max(time.time_ns(), self.last_ts + 1)
            secs, nanos = divmod(ts, 1_000_000_000)
            head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
            stream = "stderr" if self.seq % 7 == 3 else "stdout"
            out.append(f"{head}.{nanos:09d}Z {stream} F seq={self.seq}\n")
            self.seq += 1
        return "".join(out).encode()

    def write(self, n: int, fd: int | None = None) -> None:
        if n:
            os.write(self.fd if fd is None else fd, self.chunk(n))
            self.in_file += n

    def rotate(self, n: int) -> None:
        rotated = f"{self.live}.{stamp(n)}"
        if self.method == "copytruncate":
            shutil.copyfile(self.live, rotated)
            os.ftruncate(self.fd, 0)  # O_APPEND: the next write starts the file again
        elif self.method == "tmp-rename":
            tmp = self.live + ".tmp"
            new = self._open(tmp, os.O_TRUNC)
            self.write(self.rng.choice((0, 0, self.rng.randint(1, 20))), new)
            os.rename(tmp, self.live)
            os.close(self.fd)
            self.fd = new
        else:
            os.rename(self.live, rotated)
            # The runtime writes to the renamed file until it reopens.
            self.write(self.rng.randint(0, 20))
            os.close(self.fd)
            self.fd = self._open(self.live)
            if self.method == "gzip":
                self._compress_older()
        self.in_file = 0
        self.rotations += 1

    def _compress_older(self) -> None:
        """Kubelet's compression: every rotation but the newest, via <name>.tmp."""
        names = sorted(
            n
            for n in os.listdir(self.dir)
            if n.startswith("0.log.") and n[-3:] not in (".gz", "tmp")
        )
        for name in names[:-1]:
            src = os.path.join(self.dir, name)
            with open(src, "rb") as f, gzip.open(src + ".tmp", "wb") as g:
                shutil.copyfileobj(f, g)
            os.rename(src + ".tmp", src + ".gz")
            os.unlink(src)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("root")
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--rate", type=float, default=10_000, help="lines/s over all containers")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rotate-lines", type=int, default=2_500, help="lines per file")
    p.add_argument("--containers", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    writers = [_Writer(args.root, i, args.method, rng) for i in range(args.containers)]
    tick = 0.005
    per_tick = args.rate * tick / len(writers)
    owed = 0.0
    rotations = 0
    started = time.monotonic()
    next_tick = started
    while time.monotonic() - started < args.seconds:
        owed += per_tick
        n = int(owed)
        owed -= n
        for w in writers:
            w.write(n)
            if w.in_file >= args.rotate_lines:
                rotations += 1
                w.rotate(rotations)
        next_tick += tick
        time.sleep(max(0.0, next_tick - time.monotonic()))
    elapsed = time.monotonic() - started
    for w in writers:
        os.close(w.fd)
    out = {"pods": {w.pod: w.seq for w in writers}, "rotations": rotations, "seconds": elapsed}
    tmp = os.path.join(args.root, "counts.json.tmp")
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.rename(tmp, os.path.join(args.root, "counts.json"))
    return 0


def start_writer(root: Path, method: str, **options: float | int) -> subprocess.Popen[bytes]:
    """Start the writer process on root (options: rate, seconds, rotate_lines, ...)."""
    argv = [sys.executable, "-m", "tests.helpers_faults", str(root), "--method", method]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return subprocess.Popen(argv, cwd=REPO)


@dataclass(frozen=True)
class Written:
    """What the writer process says it wrote."""

    pods: dict[str, int]
    rotations: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.pods.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds


def written(root: Path) -> Written:
    data = json.loads((root / "counts.json").read_text())
    return Written(data["pods"], data["rotations"], data["seconds"])


@dataclass(frozen=True)
class Tally:
    """Lines written / stored / duplicated / lost, over every container."""

    written: int
    stored: int
    duplicated: int
    lost: int
    out_of_order: int

    def __str__(self) -> str:
        return (
            f"written {self.written}, stored {self.stored}, duplicated {self.duplicated}, "
            f"lost {self.lost}, out of order {self.out_of_order}"
        )


def tally(store: Store, counts: dict[str, int]) -> Tally:
    """Compare the store with `counts` (pod -> lines numbered 0..n-1, restarts continuing
    the numbering): each container's lines in id order must be exactly 0..n-1."""
    by_pod: dict[str, list[tuple[int, int]]] = {}
    for ln in stored(store):
        by_pod.setdefault(ln.key.pod, []).append((ln.key.restart, seq_of(ln.message)))
    n_stored = dup = lost = disorder = 0
    for pod in set(counts) | set(by_pod):
        got = [s for _, s in sorted(by_pod.get(pod, []), key=lambda rs: rs[0])]
        n_stored += len(got)
        c = Counter(got)
        dup += sum(k - 1 for k in c.values() if k > 1)
        lost += sum(1 for s in range(counts.get(pod, 0)) if s not in c)
        disorder += sum(1 for a, b in zip(got, got[1:], strict=False) if b < a)
    return Tally(sum(counts.values()), n_stored, dup, lost, disorder)


def committed_lines(db: Path) -> int:
    """Lines committed in the store at db, read the way another process would (read
    only, never creating anything); 0 before the store has its tables."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM lines").fetchone()[0])
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return 0
        raise
    finally:
        conn.close()


def committed_by_pod(db: Path) -> dict[str, int]:
    """Lines committed per pod in the store at db, read as `committed_lines` reads."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT s.pod, count(*) FROM lines l JOIN sources s ON s.id = l.source_id "
            "GROUP BY s.pod"
        ).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return {}
        raise
    finally:
        conn.close()
    return {str(pod): int(n) for pod, n in rows}


@functools.cache
def user_namespaces_work() -> bool:
    """Whether this machine lets us start a process in a user namespace of its own."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "sh",
            "-c",
            "echo 1 > /proc/sys/user/max_inotify_watches",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


def with_inotify_limits(
    argv: list[str], *, watches: int | None = None, instances: int | None = None
) -> list[str]:
    """argv run in a user namespace of its own whose inotify limits are lowered: the
    kernel's real ENOSPC/EMFILE, while the machine's limits (and other tests) stay as
    they are. Inotify limits are counted per user namespace (/proc/sys/user)."""
    sets = []
    if watches is not None:
        sets.append(f"echo {watches} > /proc/sys/user/max_inotify_watches")
    if instances is not None:
        sets.append(f"echo {instances} > /proc/sys/user/max_inotify_instances")
    script = " && ".join([*sets, 'exec "$@"'])
    return ["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", *argv]


def collect_argv(log_dir: Path, db: Path, *extra: str) -> list[str]:
    """The command line of `klogtui collect --log-dir log_dir --db db`, extra options last."""
    argv = [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(log_dir), "--db", str(db)]
    return argv + list(extra)


def collect_proc(log_dir: Path, db: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`klogtui collect --log-dir log_dir --db db` as a user starts it."""
    return subprocess.Popen(
        collect_argv(log_dir, db, *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def lock_store(db: Path, hold_s: float) -> subprocess.Popen[str]:
    """Another process holding the store's write lock for hold_s seconds, from the
    moment this returns; it prints `free` on its stdout when it lets go."""
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            f"time.sleep({hold_s}); c.execute('COMMIT'); print('free', flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker


def key(i: int, restart: int = 0) -> SourceKey:
    """The source of the writer's container i."""
    return SourceKey("faults", f"pod{i}", "app", restart, f"uid{i}")


if __name__ == "__main__":
    sys.exit(main())


@contextlib.contextmanager
def tmpfs(mnt: Path, size: str) -> Iterator[Path]:
    """A small disk at `mnt` (a tmpfs of `size`, e.g. "3m"), unmounted afterwards; skips
    the test where it cannot be mounted (needs root and mount permission)."""
    mnt.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
