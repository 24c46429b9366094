"""klogtui benchmark suite: one entry point, a table of medians next to baselines.

    python bench/run.py [--lines N] [--runs R] [--quick] [--only ingest,search,live,ui,recent]
                        [--search-sizes 1000000,5000000] [--write]

Generates its own data (bench/gen.py, cached in bench/data), then measures:

- ingest: `klogtui collect --once` vs a naive executemany + FTS5 rebuild loader;
- search: newest 200 matches of four queries, in-process and as `klogtui query`,
  vs lnav and grep -c over the same files, at each of --search-sizes;
- live: write() -> queryable latency at 5,000 lines/s over 50 files;
- ui: first screen of the biggest store, g/G jumps, 100 page-downs, write -> on
  screen latency, and the app's RSS while following at 5,000 lines/s;
- recent (only when named in --only: it writes a 5M-line tree): with 24 hours of
  rotated history on disk, seconds from `klogtui collect` starting until the newest 15
  minutes of every container are queryable, vs the code before recent first
  (bench/recent.py).

Every figure is a median over several runs, printed next to a baseline measured in
the same run where one exists (the ratio is what counts on a shared machine). The
table is Markdown; --write puts it, the command and the machine into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402
import ingest  # noqa: E402
import live  # noqa: E402
import recent  # noqa: E402
import search  # noqa: E402
import ui  # noqa: E402

import klogtui  # noqa: E402

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
_BEGIN = "<!-- bench:begin (written by bench/run.py --write; edit outside this block) -->"
_END = "<!-- bench:end -->"
_RATE = 5000.0


@dataclass(slots=True)
class Row:
    """One line of the table."""

    name: str
    klogtui: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    result: str = "info"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _ratio(x: float) -> str:
    return f"{x:,.1f}x" if x < 100 else f"{x:,.0f}x"


def _verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n:,}"


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    except OSError:
        pass
    lnav = "not installed"
    if search.lnav_missing() is None:
        out = subprocess.run(["lnav", "-V"], capture_output=True, text=True, check=False)
        lnav = out.stdout.strip() or out.stderr.strip()
    from importlib.metadata import version

    return {
        "klogtui": _revision(),
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "RAM": ram,
        "OS": os_name,
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "Textual": version("textual"),
        "lnav": lnav,
        "grep": subprocess.run(
            ["grep", "-V"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0],
    }


def _revision() -> str:
    """The commit measured, and whether klogtui/ had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return out.stdout.strip() if out.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--", "klogtui")
    return f"commit {head}" + (" + uncommitted changes in klogtui/" if dirty else "")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# --------------------------------------------------------------------------- benchmarks


def bench_ingest_before(
    ds: gen.Dataset, args: argparse.Namespace, log: Callable[[str], None]
) -> list[Row]:
    """bench_ingest with the code at --baseline-rev beside it (unless 'none')."""
    if args.baseline_rev == "none":
        return bench_ingest(ds, args.runs, None, log)
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        try:
            code = recent.baseline_tree(args.baseline_rev, Path(tmp))
        except subprocess.CalledProcessError:
            # A shallow clone (CI) may not hold it: the table is still worth having.
            log(f"  revision {args.baseline_rev} is not in this checkout: no 'before' rows")
            return bench_ingest(ds, args.runs, None, log)
        return bench_ingest(ds, args.runs, code, log)


def bench_ingest(
    ds: gen.Dataset, runs: int, before: Path | None, log: Callable[[str], None]
) -> list[Row]:
    """Alternate naive, klogtui and (if given) the code before, so drift in the machine's
    load hits all of them."""
    sides = {"naive": ingest.naive_ingest, "klogtui": ingest.klogtui_ingest}
    if before is not None:
        sides["before"] = lambda d, db: ingest.klogtui_ingest(d, db, before)
    speed: dict[str, list[float]] = {name: [] for name in sides}
    size: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=gen.DATA_DIR) as tmp:
        db = Path(tmp) / "ingest.db"
        for i in range(runs):
            for name, load in sides.items():
                speed[name].append(ds.lines / load(ds, db))
                size[name] = ingest.store_bytes(db)
                ingest.remove_db(db)
            log(
                f"  ingest run {i + 1}/{runs}: "
                + ", ".join(f"{name} {speed[name][-1]:,.0f} lines/s" for name in sides)
            )
    k, n = statistics.median(speed["klogtui"]), statistics.median(speed["naive"])
    rows = [
        Row(
            f"ingest {_short(ds.lines)} lines ({ds.bytes / 1e6:,.1f} MB, "
            f"{len(ds.files)} files), lines/s",
            f"{k:,.0f}",
            f"{n:,.0f} (naive)",
            _ratio(k / n),
            ">= 120,000 and >= 1.2x",
            _verdict(k >= 120_000 and k / n >= 1.2),
        ),
        Row(
            f"store size after ingest, MB (raw files {ds.bytes / 1e6:,.1f} MB; "
            "store / raw in the ratio column)",
            f"{size['klogtui'] / 1e6:,.1f}",
            f"{size['naive'] / 1e6:,.1f} (naive)",
            f"{size['klogtui'] / ds.bytes:.2f}x raw",
            "<= 1.0x raw",
            _verdict(size["klogtui"] <= ds.bytes),
        ),
    ]
    if before is not None:
        b = statistics.median(speed["before"])
        rows += [
            Row(
                "  ingest, lines/s: this code vs the code before (baseline column)",
                f"{k:,.0f}",
                f"{b:,.0f} (before)",
                _ratio(k / b),
            ),
            Row(
                "  store size, MB: this code vs the code before (baseline column)",
                f"{size['klogtui'] / 1e6:,.1f}",
                f"{size['before'] / 1e6:,.1f} (before)",
                f"{size['before'] / size['klogtui']:.2f}x smaller",
            ),
        ]
    return rows


def bench_search(
    ds: gen.Dataset, db: Path, args: argparse.Namespace, log: Callable[[str], None]
) -> list[Row]:
    missing = search.lnav_missing()
    if missing:
        log(f"  {missing}; the lnav column is skipped")
    results = search.run_search(
        ds, db, args.search_runs, args.process_runs, args.baseline_runs, lnav=missing is None
    )
    at_target = ds.lines >= 5_000_000
    rows = []
    for r in results:
        label = f"search {r.query} @{_short(ds.lines)} ({r.found} lines)"
        rows.append(
            Row(
                f"{label}, in-process",
                _ms(r.in_process),
                f"{_ms(r.grep)} (grep -c)",
                _ratio(r.grep / r.in_process),
                "<= 20 ms" if at_target else "—",
                _verdict(r.in_process <= 0.020) if at_target else "info",
            )
        )
        if r.lnav is None:
            base, ratio, ok = "lnav not installed", "—", r.process <= 0.300
        else:
            base, ratio = f"{_ms(r.lnav)} (lnav)", _ratio(r.lnav / r.process)
            ok = r.process <= 0.300 and r.lnav / r.process >= 10
        rows.append(
            Row(
                f"{label}, `klogtui query` process",
                _ms(r.process),
                base,
                ratio,
                "<= 300 ms and >= 10x lnav" if at_target else "—",
                _verdict(ok) if at_target else "info",
            )
        )
    return rows


def bench_live(args: argparse.Namespace, log: Callable[[str], None]) -> list[Row]:
    r = live.queryable_latency(
        args.live_seconds, _RATE, warmup=args.warmup, drain=args.drain, log=log
    )
    lost = "" if r.seen == r.written else f", {r.written - r.seen} never seen"
    return [
        Row(
            f"write -> queryable p50 ({r.rate:,.0f} lines/s, 50 files, {r.seen:,} lines{lost})",
            _ms(r.p50),
        ),
        Row(
            "write -> queryable p99",
            _ms(r.p99),
            target="<= 250 ms",
            result=_verdict(r.p99 <= 0.250 and r.seen == r.written),
        ),
    ]


def bench_recent(args: argparse.Namespace, log: Callable[[str], None]) -> list[Row]:
    r = recent.run_recent(args.recent_runs, args.baseline_rev, args.seed, args.data_dir, log)
    k, b = statistics.median(r.klogtui), statistics.median(r.baseline)
    e = statistics.median(r.explorer)
    return [
        Row(
            f"newest 15 min of {recent.CONTAINERS} containers queryable, from start "
            f"({_short(r.recent_lines)} of {_short(r.total_lines)} lines on disk)",
            _ms(k),
            f"{_ms(b)} (full backfill first)",
            _ratio(b / k),
            "<= 3 s",
            _verdict(k <= 3.0),
        ),
        Row(
            "  the same on the explorer's screen (`klogtui --log-dir` in tmux, from start)",
            _ms(e),
            "—",
            "—",
            "<= 3 s",
            _verdict(e <= 3.0),
        ),
    ]


def bench_ui_open(big: Path, big_lines: int, args: argparse.Namespace) -> list[Row]:
    o = ui.open_app(big, args.ui_runs)
    at_target = big_lines >= 5_000_000
    size = _short(big_lines)
    rows = [
        Row(
            f"first screen of a {size}-line store (app start -> painted)",
            _ms(o.first_paint),
            target="<= 1 s" if at_target else "—",
            result=_verdict(o.first_paint <= 1.0) if at_target else "info",
        ),
        Row("  the same from process start (Python, imports)", _ms(o.first_paint_process)),
    ]
    for name, t in (("jump to top (g)", o.top), ("jump to bottom (G)", o.bottom)):
        rows.append(
            Row(
                f"{name} @{size}",
                _ms(t),
                target="<= 100 ms" if at_target else "—",
                result=_verdict(t <= 0.100) if at_target else "info",
            )
        )
    again = ""
    if o.repressed:
        keys = ", ".join(f"{k} x{n}" for k, n in sorted(o.repressed.items()))
        again = f"; presses that did nothing and were repeated: {keys}"
    rows.append(
        Row(
            f"page down x{o.pages} @{size}: median per page "
            f"(total {_ms(o.page_down_total)}{again})",
            _ms(o.page_down),
        )
    )
    rows.append(Row(f"app RSS after opening the {size} store and paging", f"{o.rss_mb:.0f} MB"))
    return rows


def _rss_row(
    rss: list[float], seconds: float, what: str, judge: bool, log: Callable[[str], None]
) -> list[Row]:
    if not rss:
        return []
    log("  RSS samples (MB, one a second): " + " ".join(f"{x:.0f}" for x in rss))
    # Flat: the last quarter's median within 10% of the first quarter's.
    q = max(1, len(rss) // 4)
    start, end, peak = statistics.median(rss[:q]), statistics.median(rss[-q:]), max(rss)
    flat = end <= start * 1.10
    return [
        Row(
            f"app RSS following {_RATE:,.0f} lines/s for {seconds:.0f} s {what} "
            f"(first/last quarter median, max)",
            f"{start:.0f} / {end:.0f} / {peak:.0f} MB",
            target="<= 250 MB, flat" if judge else "—",
            result=_verdict(peak <= 250 and flat) if judge else "info",
        )
    ]


def bench_ui_screen(args: argparse.Namespace, log: Callable[[str], None]) -> list[Row]:
    f = ui.follow_app(
        args.screen_seconds, _RATE, "pod=writer-00", warmup=args.warmup, drain=args.drain, log=log
    )
    lost = "" if f.seen == f.expected else f", {f.expected - f.seen} never shown"
    rows = [
        Row(
            f"write -> on screen p50 (pod=writer-00 while ingesting "
            f"{_RATE:,.0f} lines/s, {f.seen} lines{lost})",
            _ms(f.p50),
        ),
        Row(
            "write -> on screen p99",
            _ms(f.p99),
            target="<= 400 ms",
            result=_verdict(f.p99 <= 0.400 and f.seen == f.expected),
        ),
    ]
    if args.quick:  # no separate long follow: show this run's memory
        rows += _rss_row(f.rss_mb, args.screen_seconds, "(new store)", False, log)
    return rows


def bench_ui_follow(
    big: Path, big_lines: int, args: argparse.Namespace, log: Callable[[str], None]
) -> list[Row]:
    g = ui.follow_app(
        args.follow_seconds,
        _RATE,
        "",
        base_store=big,
        warmup=args.warmup,
        drain=args.drain,
        log=log,
        watch=False,
    )
    return _rss_row(
        g.rss_mb, args.follow_seconds, f"over a copy of the {_short(big_lines)} store", True, log
    )


# --------------------------------------------------------------------------- output


def table(rows: list[Row]) -> str:
    head = ["benchmark", "klogtui (median)", "baseline (median)", "ratio", "target", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r.name, r.klogtui, r.baseline, r.ratio, r.target, r.result]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def report(
    rows: list[Row], command: str, info: dict[str, str], loads: tuple[str, str], seconds: float
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"Command: `{command}`  ",
        f"Run: {when}, {seconds / 60:.1f} min; load average (1/5/15 min) at start "
        f"{loads[0]}, at end {loads[1]}",
        "",
        table(rows),
        "",
        "Machine:",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
    ]
    return "\n".join(parts)


def write_benchmarks_md(block: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the generated block of BENCHMARKS.md, keeping the text around it."""
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{_BEGIN}\n{_END}\n"
    if _BEGIN not in text or _END not in text:
        text = text.rstrip("\n") + f"\n\n{_BEGIN}\n{_END}\n"
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    path.write_text(f"{head}{_BEGIN}\n{block}\n{_END}{tail}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="klogtui benchmark suite",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--lines",
        type=int,
        default=None,
        help="lines ingested (default 1,000,000; 2,000 with --quick)",
    )
    p.add_argument(
        "--search-sizes",
        default=None,
        help="comma-separated store sizes searched (default 1000000,5000000; --lines with --quick)",
    )
    p.add_argument("--runs", type=int, default=3, help="ingest runs (each side)")
    p.add_argument("--search-runs", type=int, default=20, help="in-process runs per query")
    p.add_argument("--process-runs", type=int, default=5, help="`klogtui query` runs per query")
    p.add_argument("--baseline-runs", type=int, default=3, help="lnav and grep runs per query")
    p.add_argument("--ui-runs", type=int, default=5, help="g/G jumps each")
    p.add_argument(
        "--live-seconds", type=float, default=20.0, help="seconds of writing for write -> queryable"
    )
    p.add_argument(
        "--screen-seconds",
        type=float,
        default=20.0,
        help="seconds of writing for write -> on screen",
    )
    p.add_argument(
        "--follow-seconds", type=float, default=60.0, help="seconds of following for the app's RSS"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--recent-runs", type=int, default=3, help="recent-first runs (each side)")
    p.add_argument(
        "--baseline-rev",
        default=recent.BEFORE,
        help="ingest and recent: the code before (git revision), measured in the same run; "
        "'none' skips it for ingest",
    )
    p.add_argument(
        "--only",
        default="ingest,search,live,ui",
        help="comma-separated subset of ingest,search,live,ui,recent (recent: only if named)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=gen.DATA_DIR,
        help="where generated trees and stores are cached",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and single runs: checks the suite works, measures little",
    )
    p.add_argument("--write", action="store_true", help="put the table into BENCHMARKS.md")
    args = p.parse_args(argv)
    if args.lines is None:
        args.lines = 2_000 if args.quick else 1_000_000
    if args.search_sizes is None:
        args.search_sizes = str(args.lines) if args.quick else "1000000,5000000"
    args.sizes = sorted({int(s) for s in args.search_sizes.split(",") if s.strip()})
    args.warmup, args.drain = 2.0, 3.0
    if args.quick:
        args.runs = min(args.runs, 1)
        args.search_runs = min(args.search_runs, 3)
        args.process_runs = min(args.process_runs, 1)
        args.baseline_runs = min(args.baseline_runs, 1)
        args.ui_runs = min(args.ui_runs, 1)
        args.live_seconds = min(args.live_seconds, 1.5)
        args.screen_seconds = min(args.screen_seconds, 1.5)
        args.warmup, args.drain = 0.5, 1.0
    args.parts = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = args.parts - {"ingest", "search", "live", "ui", "recent"}
    if unknown:
        p.error(f"unknown --only part(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gen.DATA_DIR = args.data_dir
    args.data_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = time.monotonic()
    load_start = _load()
    info = machine()
    log(f"load average at start: {load_start}")
    # `pip install` leaves klogtui compiled to bytecode, so a user's `klogtui query` never
    # compiles its sources; an editable checkout under PYTHONDONTWRITEBYTECODE would.
    compileall.compile_dir(str(Path(klogtui.__file__).parent), quiet=1)
    rows: list[Row] = []
    failed = False

    def section(name: str, fn: Callable[[], list[Row]]) -> None:
        nonlocal failed
        log(f"{name} ...")
        try:
            rows.extend(fn())
        except Exception as e:  # noqa: BLE001 - reported in the table and on stderr
            failed = True
            traceback.print_exc()
            last = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            rows.append(Row(name, f"failed: {last}"[:200], result="ERROR"))

    datasets: dict[int, gen.Dataset] = {}

    def dataset(n: int) -> gen.Dataset:
        if n not in datasets:
            datasets[n] = gen.generate(n, args.seed, args.data_dir, log=log)
        return datasets[n]

    if "ingest" in args.parts:
        section(
            f"ingest {args.lines:,}", lambda: bench_ingest_before(dataset(args.lines), args, log)
        )
    stores: dict[int, Path] = {}
    if "search" in args.parts or "ui" in args.parts:
        for n in args.sizes:

            def build(n: int = n) -> list[Row]:
                stores[n] = search.build_store(dataset(n), log, args.data_dir)
                return []

            section(f"store {n:,}", build)
    if "search" in args.parts:
        for n, db in sorted(stores.items()):

            def searches(n: int = n, db: Path = db) -> list[Row]:
                return bench_search(dataset(n), db, args, log)

            section(f"search {n:,}", searches)
    if "live" in args.parts:
        section("live", lambda: bench_live(args, log))
    if "recent" in args.parts:
        section("recent first", lambda: bench_recent(args, log))
    if "ui" in args.parts and stores:
        big = max(stores)
        section("ui: open, jumps, paging", lambda: bench_ui_open(stores[big], big, args))
        section("ui: write -> on screen", lambda: bench_ui_screen(args, log))
        if not args.quick:
            section(
                f"ui: following {args.follow_seconds:.0f} s",
                lambda: bench_ui_follow(stores[big], big, args, log),
            )

    elapsed = time.monotonic() - started
    command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = report(rows, command.strip(), info, (load_start, _load()), elapsed)
    print(text)
    if args.write:
        write_benchmarks_md(text)
        log(f"wrote {BENCHMARKS_MD}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
