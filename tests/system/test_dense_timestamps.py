"""Many lines on one timestamp, and timestamps past 2059, through `klogtui collect`.

A line id holds 32,768 slots per 10 µs (klogtui/store/ids.py). More lines than that
in one bucket, or any number past 2059 (where every line shares the last bucket),
must still be stored once each, in order, at ingest speed; time bounds there must
still be right.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from klogtui.store import Store
from tests.helpers_faults import collect_argv, tally
from tests.helpers_files import Container, ts_text

_Y2060 = 2_840_140_800_000_000_000  # 2060-01-01T00:00:00Z
_Y2061 = _Y2060 + 366 * 86_400_000_000_000
# Before the fix a run stalled quadratically: 4,700 of 40,000 lines in 61 s, then exit 1.
_INGEST_DEADLINE_S = 120


def _write(log_dir: Path, pods: int, per_pod: int, ts_of: dict[int, int] | int) -> None:
    """per_pod numbered lines (`seq=<n>`) in each of `pods` containers; every line is
    stamped ts_of if it is an int, else ts_of[n]."""
    for p in range(pods):
        c = Container(log_dir, namespace="faults", pod=f"pod{p}", uid=f"uid{p}")
        stamps = [ts_of if isinstance(ts_of, int) else ts_of[n] for n in range(per_pod)]
        c.append(
            b"".join(f"{ts_text(t)} stdout F seq={n}\n".encode() for n, t in enumerate(stamps))
        )


def _collect_once(log_dir: Path, db: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*collect_argv(log_dir, db), "--once"],
        capture_output=True,
        text=True,
        timeout=_INGEST_DEADLINE_S * 3,
    )
    return done, time.monotonic() - started


def _query(db: Path, text: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", text, "--db", str(db), "--limit", "0"]
        + ["-o", "jsonl"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(ln) for ln in done.stdout.splitlines()]


def test_forty_containers_on_one_timestamp_are_stored_once_each_in_order(tmp_path: Path) -> None:
    """40 × 1,000 lines in one 10 µs bucket: 40,000 > 32,768 slots."""
    _write(tmp_path / "logs", 40, 1000, _Y2060 - 86_400_000_000_000)
    db = tmp_path / "s.db"
    done, seconds = _collect_once(tmp_path / "logs", db)
    assert done.returncode == 0, done.stderr
    t = tally(Store.open(db), {f"pod{p}": 1000 for p in range(40)})
    assert (t.written, t.stored, t.duplicated, t.lost, t.out_of_order) == (40_000, 40_000, 0, 0, 0)
    assert seconds < _INGEST_DEADLINE_S, f"{t}; took {seconds:.0f} s"


def test_lines_past_2059_are_stored_at_speed_and_time_bounds_hold(tmp_path: Path) -> None:
    """40,000 lines stamped in 2060 and 2061 (ids saturate in 2059)."""
    per_pod = 10_000
    # Pod i: the first half in 2060, the second half in 2061, a microsecond apart.
    stamps = {n: (_Y2060 if n < per_pod // 2 else _Y2061) + n * 1000 for n in range(per_pod)}
    _write(tmp_path / "logs", 4, per_pod, stamps)
    db = tmp_path / "s.db"
    done, seconds = _collect_once(tmp_path / "logs", db)
    assert done.returncode == 0, done.stderr
    t = tally(Store.open(db), {f"pod{p}": per_pod for p in range(4)})
    assert (t.written, t.stored, t.duplicated, t.lost, t.out_of_order) == (40_000, 40_000, 0, 0, 0)
    assert seconds < _INGEST_DEADLINE_S, f"{t}; took {seconds:.0f} s"
    mid = "2060-07-01T00:00:00Z"
    after = _query(db, f"since:{mid} pod=pod1")
    before = _query(db, f"until:{mid} pod=pod1")
    assert (len(before), len(after)) == (per_pod // 2, per_pod // 2)
    assert all(str(ln["ts"]) < mid for ln in before) and all(str(ln["ts"]) >= mid for ln in after)
    # Bounds inside OR: 2060's lines 0-999 (1 µs apart) and 2061's 8000 and up.
    either = _query(
        db, "pod=pod1 (until:2060-01-01T00:00:00.001Z OR since:2061-01-01T00:00:00.008Z)"
    )
    seqs = [int(str(ln["message"]).removeprefix("seq=")) for ln in either]
    assert seqs == [*range(1000), *range(8000, per_pod)]
