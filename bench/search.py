"""Search: the newest 200 lines matching a query, klogtui vs lnav and grep.

Four queries (see gen.py for what is planted): a common word (~30% of lines), a rare
word (1 in 100,000), a phrase (~0.5%) and a metadata-only query (~2%). For each:

- in-process: `Reader.newest(query, 200)` on an open reader, median of many runs
  after one warm-up (the query compiled and the pages cached, as in the app);
- process: `klogtui query QUERY --db F --limit 200` as a user runs it, wall time to
  exit, output read through a pipe;
- lnav: ``lnav -n -c ':filter-in REGEX' FILES | tail -n 200`` (headless lnav prints
  its filtered, time-merged view); for the metadata query lnav is handed only the
  pods' files (what a user would do) with no filter;
- grep: ``grep -c -F TEXT FILES`` with LC_ALL=C, only a scan of the files (it does
  not merge by time), the floor any file-rescanning tool pays. For the metadata
  query, ``grep -c ''`` over the selected files.

Stores are built once per (lines, seed) by `klogtui collect --once` and cached in
bench/data, keyed by the store layout's source (schema, writer, ids), so a change to
the layout rebuilds them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gen import COMMON_WORD, DATA_DIR, METADATA_QUERY, PHRASE, RARE_WORD, Dataset
from ingest import KLOGTUI, klogtui_ingest

from klogtui.model import LogLine
from klogtui.store import Reader

__all__ = [
    "QUERIES",
    "SearchResult",
    "build_store",
    "grep_count",
    "in_process",
    "lnav_missing",
    "lnav_newest",
    "query_process",
    "run_search",
]

LIMIT = 200


@dataclass(frozen=True, slots=True)
class Query:
    """One benchmark query in every tool's terms."""

    name: str
    klogtui: str  # query language
    text: str | None  # what lnav filters and grep counts; None = metadata only


QUERIES = (
    Query("common", COMMON_WORD, COMMON_WORD),
    Query("rare", RARE_WORD, RARE_WORD),
    Query("phrase", f'"{PHRASE}"', PHRASE),
    Query("metadata", METADATA_QUERY, None),
)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Medians (seconds) for one query at one store size; None where not measured."""

    query: str
    lines: int
    in_process: float
    process: float
    lnav: float | None
    grep: float
    found: int  # lines the in-process search returned


def _layout_key() -> str:
    """A hash of the code that decides what a store file looks like."""
    import klogtui.store as store_pkg

    h = hashlib.sha256()
    pkg = Path(store_pkg.__file__).parent
    for name in ("schema.py", "writer.py", "rows.py", "ids.py", "text_keys.py"):
        h.update((pkg / name).read_bytes())
    return h.hexdigest()[:12]


def build_store(
    ds: Dataset, log: Callable[[str], None] = print, data_dir: Path | None = None
) -> Path:
    """The store holding ds, built by `klogtui collect --once` unless cached."""
    directory = data_dir or DATA_DIR
    db = directory / f"store-{ds.lines}-s{ds.seed}.db"
    marker = db.with_suffix(".json")
    key = _layout_key()
    try:
        ok = json.loads(marker.read_text()).get("layout") == key and db.exists()
    except (OSError, ValueError):
        ok = False
    if ok:
        return db
    marker.unlink(missing_ok=True)
    log(f"building the {ds.lines:,}-line search store with klogtui collect --once ...")
    seconds = klogtui_ingest(ds, db)
    marker.write_text(json.dumps({"layout": key, "lines": ds.lines, "seconds": seconds}))
    log(f"  built in {seconds:.1f} s ({ds.lines / seconds:,.0f} lines/s): {db}")
    return db


def _check(ds: Dataset, q: Query, reader: Reader, lines: list[LogLine]) -> None:
    expected = min(LIMIT, ds.counts[q.name])
    if len(lines) != expected:
        raise RuntimeError(f"{q.name}: klogtui found {len(lines)} lines, expected {expected}")
    for line in lines:
        msg = line.message.lower()
        if q.text is not None and q.text not in msg:
            raise RuntimeError(f"{q.name}: klogtui returned a line without {q.text!r}: {msg}")
        if q.text is None:
            src = reader.source(line.source_id)
            if src is None or src.namespace != "payments" or not src.pod.startswith("checkout-"):
                raise RuntimeError(f"metadata: klogtui returned a line from {src}")


def in_process(ds: Dataset, db: Path, q: Query, runs: int) -> tuple[float, int]:
    """Median seconds of Reader.newest(q, 200) over runs, and the lines it found."""
    reader = Reader(db)
    try:
        lines = reader.newest(q.klogtui, LIMIT)  # warm-up: compile, cache pages
        _check(ds, q, reader, lines)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            reader.newest(q.klogtui, LIMIT)
            times.append(time.perf_counter() - started)
    finally:
        reader.close()
    return statistics.median(times), len(lines)


def _timed(
    cmd: list[str] | str, env: dict[str, str] | None = None, shell: bool = False
) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        shell=shell,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # grep exits 1 when nothing matched
        raise RuntimeError(f"{cmd!r} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return elapsed, proc.stdout


def query_process(ds: Dataset, db: Path, q: Query, runs: int) -> float:
    """Median wall seconds of a `klogtui query` process (after one warm-up run)."""
    cmd = [KLOGTUI, "query", q.klogtui, "--db", str(db), "--limit", str(LIMIT), "-o", "text"]
    _, out = _timed(cmd)
    got = len(out.splitlines())
    if got != min(LIMIT, ds.counts[q.name]):
        raise RuntimeError(f"klogtui query {q.klogtui!r} printed {got} lines")
    return statistics.median(_timed(cmd)[0] for _ in range(runs))


def lnav_missing() -> str | None:
    """Why lnav cannot run here (with how to install it), or None."""
    if shutil.which("lnav") is None:
        return "lnav not found: install it (Debian/Ubuntu: sudo apt-get install -y lnav)"
    return None


def _quote(paths: list[Path]) -> str:
    return " ".join("'" + str(p).replace("'", "'\\''") + "'" for p in paths)


def lnav_newest(ds: Dataset, q: Query, runs: int) -> float:
    """Median wall seconds of headless lnav printing the newest 200 matches."""
    with tempfile.TemporaryDirectory(prefix="bench-lnav-") as home:
        # A private HOME: no user config, and lnav's own files stay out of the way.
        env = {**os.environ, "HOME": home, "TERM": "dumb"}
        if q.text is None:
            cmd = f"lnav -n {_quote(ds.metadata_paths())} | tail -n {LIMIT}"
        else:
            cmd = f"lnav -n -c ':filter-in {q.text}' {_quote(ds.paths())} | tail -n {LIMIT}"
        _, out = _timed(cmd, env=env, shell=True)  # warm-up, and a check
        got = len(out.splitlines())
        if got != min(LIMIT, ds.counts[q.name]):
            raise RuntimeError(f"lnav printed {got} lines for {q.name}")
        return statistics.median(_timed(cmd, env=env, shell=True)[0] for _ in range(runs))


def grep_count(ds: Dataset, q: Query, runs: int) -> float:
    """Median wall seconds of `grep -c` over the files (a bare scan)."""
    env = {**os.environ, "LC_ALL": "C"}
    if q.text is None:
        cmd = ["grep", "-c", "", *map(str, ds.metadata_paths())]
    else:
        cmd = ["grep", "-c", "-F", q.text, *map(str, ds.paths())]
    _, out = _timed(cmd, env=env)
    total = sum(int(line.rpartition(":")[2]) for line in out.splitlines())
    if total != ds.counts[q.name]:
        raise RuntimeError(
            f"grep counted {total} lines for {q.name}, the generator planted {ds.counts[q.name]}"
        )
    return statistics.median(_timed(cmd, env=env)[0] for _ in range(runs))


def run_search(
    ds: Dataset, db: Path, runs: int, process_runs: int, baseline_runs: int, lnav: bool
) -> list[SearchResult]:
    """Every query against one store and its files."""
    results = []
    for q in QUERIES:
        t_in, found = in_process(ds, db, q, runs)
        t_proc = query_process(ds, db, q, process_runs)
        t_lnav = lnav_newest(ds, q, baseline_runs) if lnav else None
        t_grep = grep_count(ds, q, baseline_runs)
        results.append(SearchResult(q.name, ds.lines, t_in, t_proc, t_lnav, t_grep, found))
    return results
