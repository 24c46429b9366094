"""The benchmark suite still runs end to end (at toy size; no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_CEILING_VARIANTS = (
    "lines table (+ source index), no text index",
    "text index alone, line ids (schema 7)",
    "text index alone, 10 us buckets (schema 8)",
    "text index alone, consecutive rowids",
    "lines + text index by bucket, one transaction (the writer's SQL)",
)


@pytest.mark.slow
def test_quick_run_prints_every_benchmark_row(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--lines",
            "2000",
            "--runs",
            "1",
            "--quick",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "| benchmark | klogtui (median) | baseline (median) | ratio | target | result |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")][1:]
    names = [row.split(" | ")[0].lstrip("| ") for row in rows]
    assert names[0].startswith("ingest 2,000 lines")
    size = rows[1].split(" | ")
    assert size[0].startswith("| store size after ingest, MB")
    assert size[3].endswith("x raw") and size[4] == "<= 1.0x raw"
    for query in ("common", "rare", "phrase", "metadata"):
        assert any(n.startswith(f"search {query} @2,000") and "in-process" in n for n in names)
        assert any(n.startswith(f"search {query} @2,000") and "klogtui query" in n for n in names)
    for prefix in (
        "write -> queryable p99",
        "first screen of a 2,000-line store",
        "jump to top (g)",
        "jump to bottom (G)",
        "write -> on screen p99",
        "app RSS following",
    ):
        assert any(n.startswith(prefix) for n in names), prefix
    assert "ERROR" not in out
    assert "- SQLite: " in out and "- CPU: " in out

    # The SQLite ceiling runs over the store the suite just built.
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ceiling.py")]
        + ["--store", str(tmp_path / "data" / "store-2000-s1.db"), "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[0].lstrip("| ") for line in table] == list(_CEILING_VARIANTS)
    assert all(line.split(" | ")[1] != "0" for line in table)


@pytest.mark.slow
def test_the_alerts_bench_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "alerts.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if not ln.lstrip().startswith("(each")]
    assert lines[0].startswith("klogtui collect at 5,000 lines/s for 1s, CPU seconds")
    assert lines[2].startswith("paced 5,000 lines/s for 1s, CPU seconds")
    assert lines[4].startswith("flat out, 5,000 lines")
    for row in (lines[1], lines[3], lines[5]):
        assert row.lstrip().startswith("0 rules: ") and "50 rules: " in row
    assert "evaluated all of it" in lines[6]


def test_events_bench_prints_both_sides(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "events.py"),
            "--lines",
            "2000",
            "--runs",
            "2",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| with events + fields |" in proc.stdout
    assert "| one record per line |" in proc.stdout
    assert "cost of events:" in proc.stdout


def test_fields_bench_prints_its_rows_beside_baselines(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fields.py"),
            "--lines",
            "6000",
            "--facet-lines",
            "3000",
            "--runs",
            "1",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| newest 200 `.status>=500` @6,000 (1 in 20) | ")
    assert "`upstream` " in rows[1]
    assert rows[2].startswith("| facets `.status` @3,000 (exact) | ")
    assert "`level` facets " in rows[2]
    assert rows[3].startswith("| field names @3,000 (newest 5,000) | ")


@pytest.mark.slow
def test_the_api_load_bench_prints_both_sides() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "api_load.py")]
        + ["--runs", "1", "--seconds", "2", "--lines", "5000", "--clients", "3"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "flat-out ingest of 5,000 lines: " in out and " with 3 clients (" in out
    assert "paced 5,000 lines/s write->commit p99: " in out
    assert "paced lines not stored: 0 at most in a run" in out


@pytest.mark.slow
def test_the_collectors_bench_prints_both_sides() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "collectors.py")]
        + ["--lines", "2000", "--runs", "1", "--writes", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "newest 200 of a text query, `klogtui query` process, 3 x 2,000 lines: " in out
    assert " --collectors " in out and " one local store " in out
    assert "first screen of the explorer, 3 x 2,000 lines: --collectors " in out
    assert "write on a node -> printed by query -f, 3 writes: --collectors p50 " in out
