"""Chaos, recent first: `klogtui collect` killed with SIGKILL again and again while it
reads containers' older history after their newest lines (klogtui.collect.files.backfill),
and while kubelet rotates their files (rename, then gzip of the older rotation).
Afterwards every written line is stored exactly once, in order, per container.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from klogtui.collect.files.identity import CHECKPOINT_PREFIX
from klogtui.model import Flag
from klogtui.store import Store
from tests.helpers_faults import collect_proc
from tests.helpers_files import T0, assert_indexed_exactly, seq_of, stored, ts_text
from tests.waiting import wait_for

STEP_NS = 20_000_000  # 20 ms between lines: 45,000 lines are 15 minutes
PAD = "x" * 40


class History:
    """A container's kubelet files, written ahead of time and rotated on demand."""

    def __init__(self, log_dir: Path, i: int) -> None:
        self.pod = f"hist{i}"
        self.dir = log_dir / "pods" / f"chaos_{self.pod}_uid{i}" / "app"
        self.dir.mkdir(parents=True)
        self.seq = 0
        self.stamps = 0

    def write(self, n: int) -> None:
        with open(self.dir / "0.log", "ab") as fh:
            fh.write(
                "".join(
                    f"{ts_text(T0 + s * STEP_NS)} stdout F seq={s} {PAD}\n"
                    for s in range(self.seq, self.seq + n)
                ).encode()
            )
        self.seq += n

    def rotate(self) -> None:
        """Kubelet: rename the live file; gzip the rotation before it and remove it."""
        self.stamps += 1
        for older in sorted(self.dir.glob("0.log.*")):
            if older.suffix not in (".gz", ".tmp"):
                tmp = older.with_name(older.name + ".tmp")
                with open(older, "rb") as src, gzip.open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.rename(tmp, older.with_name(older.name + ".gz"))
                older.unlink()
        os.rename(self.dir / "0.log", self.dir / f"0.log.20261119-{self.stamps:06d}")


def _older_range_saved(db: Path) -> bool:
    """Whether a committed file checkpoint says an older range is still to be read."""
    if not db.exists():
        return False
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT key, value FROM checkpoints").fetchall()
    except sqlite3.OperationalError:  # the collector is still creating the store
        return False
    finally:
        conn.close()
    return any(k.startswith(CHECKPOINT_PREFIX) and "older" in json.loads(v) for k, v in rows)


def _chaos(tmp_path: Path, kills: int, seed: int) -> None:
    log_dir = tmp_path / "logs"
    db = tmp_path / "store.db"
    rng = random.Random(seed)
    pods = [History(log_dir, i) for i in range(3)]
    for h in pods:  # 30 minutes of history each: the newest 15 are read first
        h.write(30_000)
        h.rotate()
        h.write(60_000)  # 20 minutes: its older 5 are its checkpoint's second range
    in_backfill = 0  # kills that left an older range to resume
    for k in range(kills):
        collector = collect_proc(log_dir, db)
        if k == 0:
            # The first kill waits until an older range is committed as still to read,
            # so at least one kill falls inside the backfill whatever the machine's speed.
            wait_for(lambda: _older_range_saved(db), timeout=60, what="an older range saved")
        else:
            time.sleep(rng.uniform(0.5, 2.5))
        collector.kill()
        collector.wait()
        if db.exists():
            saved = Store.open(db).load_checkpoints(CHECKPOINT_PREFIX).values()
            in_backfill += any("older" in json.loads(v) for v in saved)
        h = rng.choice(pods)
        if rng.random() < 0.5:
            h.rotate()  # maybe the very file whose older range is being read
        h.write(rng.randrange(1, 3_000))
    final = collect_proc(log_dir, db, "--once")
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    assert b"older history lost" not in err
    assert in_backfill, "no kill fell inside the backfill of an older range"

    lines = stored(Store.open(db))
    assert not [ln for ln in lines if ln.flags & (Flag.MALFORMED | Flag.UNTERMINATED)]
    for h in pods:
        seqs = [seq_of(ln.message) for ln in lines if ln.key.pod == h.pod]
        assert seqs == list(range(h.seq)), f"{h.pod}: {len(seqs)} stored of {h.seq}"
    assert_indexed_exactly(db, "seq")


@pytest.mark.slow
def test_kill_9_during_recent_first_backfill_loses_and_doubles_nothing(tmp_path: Path) -> None:
    _chaos(tmp_path, kills=4, seed=1)


@pytest.mark.chaos
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_kill_9_during_recent_first_backfill_long(tmp_path: Path, seed: int) -> None:
    _chaos(tmp_path, kills=15, seed=seed)
