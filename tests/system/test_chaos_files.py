"""Chaos: `klogtui collect` killed with SIGKILL again and again while writers rotate
their files at a high rate. Afterwards every written line is stored exactly once, in
order, per container.

The writer is a separate process doing what runtimes and kubelet do: appends in
bursts (conmon-style: a group of lines shares one timestamp), long lines split into
P/F fragments across two writes, rename rotation with a few more lines written to
the renamed file, gzip of older rotations via .tmp, copytruncate, container restarts.
It never deletes a file, so every line it wrote can be checked.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from klogtui.model import Flag
from klogtui.store import Store
from tests.helpers_faults import collect_proc
from tests.helpers_files import assert_indexed_exactly, seq_of, stored

WRITER = r"""
import gzip, json, os, random, shutil, sys, time

root, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
stamps = iter(range(1, 10**6))


def stamp():
    return f"{20260000 + next(stamps):08d}-000000"


class Container:
    def __init__(self, i, mode):
        self.name = f"pod{i}"
        self.mode = mode
        self.dir = os.path.join(root, "pods", f"chaos_pod{i}_uid{i}", "app")
        os.makedirs(self.dir)
        self.restart = 0
        self.seq = 0
        self.size = 0
        self.pending = None  # the F fragment of a line whose P fragment is written
        self.fd = self.open()

    def live(self):
        return os.path.join(self.dir, f"{self.restart}.log")

    def open(self):
        return os.open(self.live(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def chunk(self, n, long_lines=True):
        ts = time.time_ns()
        out = []
        if self.pending:
            out.append(self.pending)
            self.pending = None
        for i in range(n):
            if i % 5 == 0:
                ts = time.time_ns()
                head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 10**9))
                head += f".{ts % 10**9:09d}Z"
            stream = "stderr" if rng.random() < 0.2 else "stdout"
            if long_lines and rng.random() < 0.01 and i == n - 1:
                text = f"seq={self.seq} " + "x" * 20000
                out.append(f"{head} {stream} P {text[:16384]}\n".encode())
                self.pending = f"{head} {stream} F {text[16384:]}\n".encode()
            else:
                out.append(f"{head} {stream} F seq={self.seq}\n".encode())
            self.seq += 1
        return b"".join(out)

    def write(self, data):
        os.write(self.fd, data)
        self.size += len(data)

    def compress_older(self):
        prefix = f"{self.restart}.log."
        rotated = sorted(p for p in os.listdir(self.dir)
                         if p.startswith(prefix) and not p.endswith((".gz", ".tmp")))
        for name in rotated[:-1]:
            src = os.path.join(self.dir, name)
            with open(src, "rb") as f, gzip.open(src + ".tmp", "wb") as g:
                shutil.copyfileobj(f, g)
            os.rename(src + ".tmp", src + ".gz")
            os.unlink(src)

    def rotate(self):
        rotated = f"{self.live()}.{stamp()}"
        if self.mode == "copytruncate":
            shutil.copyfile(self.live(), rotated)
            os.ftruncate(self.fd, 0)
        else:
            os.rename(self.live(), rotated)
            # Written before the runtime reopens; a line split across two files
            # could not be joined, so none is split here.
            self.write(self.chunk(rng.randint(0, 10), long_lines=False))
            os.close(self.fd)
            self.fd = self.open()
        self.size = 0
        self.compress_older()

    def restart_container(self):
        os.close(self.fd)
        self.restart += 1
        self.fd = self.open()
        self.size = 0


containers = [Container(i, "copytruncate" if i == 0 else "rename") for i in range(4)]
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for c in containers:
        c.write(c.chunk(rng.randint(1, 60)))
        if c.pending is None:
            if c.size > 150_000:
                c.rotate()
            elif rng.random() < 0.002:
                c.restart_container()
    time.sleep(0.002)
for c in containers:
    if c.pending:
        c.write(c.pending)
counts = {c.name: c.seq for c in containers}
with open(os.path.join(root, "counts.json.tmp"), "w") as f:
    json.dump(counts, f)
os.rename(os.path.join(root, "counts.json.tmp"), os.path.join(root, "counts.json"))
"""


def _chaos(tmp_path: Path, seconds: float, seed: int) -> tuple[int, int]:
    """Run the writer for `seconds` while killing collectors; check; (kills, lines)."""
    log_dir = tmp_path / "logs"
    (log_dir / "pods").mkdir(parents=True)
    db = tmp_path / "store.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(log_dir), str(seconds), str(seed)])
    rng = random.Random(seed)
    kills = 0
    try:
        while writer.poll() is None:
            collector = collect_proc(log_dir, db)
            time.sleep(rng.uniform(0.2, 1.5))
            collector.kill()
            collector.wait()
            kills += 1
    finally:
        writer.kill()
    assert writer.wait() == 0
    final = collect_proc(log_dir, db, "--once")
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()

    counts: dict[str, int] = json.loads((log_dir / "counts.json").read_text())
    lines = stored(Store.open(db))
    assert not [ln for ln in lines if ln.flags & (Flag.MALFORMED | Flag.UNTERMINATED)]
    for pod, n in counts.items():
        # Restarts continue the numbering; the stored order within each is the id order.
        mine = [ln for ln in lines if ln.key.pod == pod]
        restarts = sorted({ln.key.restart for ln in mine})
        seqs = [seq_of(ln.message) for r in restarts for ln in mine if ln.key.restart == r]
        assert seqs == list(range(n)), f"{pod}: {len(seqs)} stored of {n}"
    assert_indexed_exactly(db, "seq")
    return kills, sum(counts.values())


@pytest.mark.slow
def test_kill_9_during_rotations_loses_and_doubles_nothing(tmp_path: Path) -> None:
    kills, total = _chaos(tmp_path, seconds=6, seed=1)
    assert kills >= 4 and total > 20_000


@pytest.mark.chaos
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_kill_9_chaos_long(tmp_path: Path, seed: int) -> None:
    kills, total = _chaos(tmp_path, seconds=60, seed=seed)
    print(f"seed {seed}: {kills} kills, {total} lines, all stored exactly once")
