"""UI: the app headless under Textual's Pilot, in a child process of its own.

Two child modes (``python bench/ui.py --child MODE ...``), each printing one JSON
object on its last stdout line:

- ``open DB RUNS``: open a store as `klogtui --db` does (its writer started, checking the
  store on its thread) to the first painted screen (the newest lines in
  the log pane's rendered rows), then jump top/bottom (``g``/``G``) RUNS times each
  and page down 100 times from the top. Times are from the key press to the pane
  holding the requested lines and the screen having processed the update.
- ``follow DB LOGDIR SECONDS DRAIN QUERY``: the app as ``klogtui --log-dir LOGDIR`` runs it
  (collector in the same process, following), showing QUERY. Prints ``ready`` once
  the first screen is up; then, every 10 ms, reads the log pane's rendered rows and
  notes when each line (``seq=N wrote=T``, written by live.py's writer) first
  appears. The parent samples the child's RSS from /proc meanwhile.

On-screen latency is measured with QUERY selecting one of the 50 files (100 of the
5,000 lines/s): every line of it then reaches the screen while following, so each
one can be timed; the collector still ingests all 5,000 lines/s.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from live import FILES, make_live_dir, percentile, start_writer

if TYPE_CHECKING:
    from klogtui.model import LogLine

__all__ = ["FollowResult", "OpenResult", "follow_app", "open_app", "rss_kb"]

SIZE = (200, 50)
PAGE_DOWNS = 100
_FOLLOW_GRACE_S = 120.0  # a follow child this far past its end is killed
_REPRESS_S = 0.25  # a key that changed nothing after this long is pressed again
_ROW_RE = re.compile(r"seq=(\d+) wrote=(\d+)")


@dataclass(frozen=True, slots=True)
class OpenResult:
    """Seconds (medians where repeated) and memory of the app over a big store."""

    first_paint: float  # App created -> newest lines painted
    first_paint_process: float  # process start (interpreter, imports) -> painted
    top: float
    bottom: float
    page_down: float  # median of one page-down
    page_down_total: float  # all of them
    pages: int  # page-downs done (fewer than PAGE_DOWNS when the store ends first)
    rss_mb: float  # after all of it
    repressed: dict[str, int]  # per key: presses that did nothing and were repeated


@dataclass(frozen=True, slots=True)
class FollowResult:
    """A follow run: on-screen latency (seconds) and RSS samples (MB)."""

    p50: float
    p99: float
    expected: int  # lines of QUERY written after the warm-up
    seen: int  # of those, lines that appeared on screen
    rss_mb: list[float]


def rss_kb(pid: int) -> int:
    """Resident set size of a process, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- child side


async def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app did not get there in time ({check.__qualname__})")
        await asyncio.sleep(0.001)


async def _child_open(db: Path, runs: int, process_start: float) -> dict[str, object]:
    from textual import events

    from klogtui.store import Store
    from klogtui.ui.app import KlogApp

    started = time.perf_counter()
    # As `klogtui --db` opens it: the integrity check runs on the writer's thread
    # (which writes nothing here) while the first screen is read.
    store = Store.open(db, check=False)
    writer = store.start_writer()
    app = KlogApp(store, history_path=None)
    out: dict[str, object] = {}
    async with app.run_test(size=SIZE) as pilot:
        view = app.log_view
        await _until(
            lambda: (
                not view.is_loading
                and bool(view.window)
                and any(r.strip() for r in view.rendered_rows())
            )
        )
        await pilot._wait_for_screen()
        out["first_paint"] = time.perf_counter() - started
        out["first_paint_process"] = time.time() - process_start
        reader = store.reader()
        oldest = reader.oldest("", 1)[0].id
        newest = reader.newest("", 1)[0].id
        reader.close()

        repressed: dict[str, int] = {}

        async def press(key: str, done: Callable[[], bool]) -> float:
            # Not pilot.press: it waits for the CPU to go idle twice per key (at least
            # 40 ms), which would be the harness's time, not the app's.
            nonlocal repressed
            t = last = time.perf_counter()
            app.post_message(events.Key(key, key if len(key) == 1 else None))
            await pilot._wait_for_screen()
            while view.is_loading or not done():
                now = time.perf_counter()
                if now - t > 10:
                    raise RuntimeError(
                        f"{key!r} did not finish: loading={view.is_loading} "
                        f"window={len(view.window)}"
                    )
                if now - last > _REPRESS_S and not view.is_loading:
                    # The press did nothing (seen at the edge of the loaded window while
                    # the next page loads): a user presses again.
                    repressed[key] = repressed.get(key, 0) + 1
                    last = now
                    app.post_message(events.Key(key, key if len(key) == 1 else None))
                await asyncio.sleep(0.001)
            await pilot._wait_for_screen()
            return time.perf_counter() - t

        tops, bottoms = [], []
        for _ in range(runs):
            tops.append(await press("g", lambda: bool(view.window) and view.window[0].id == oldest))
            bottoms.append(
                await press("G", lambda: bool(view.window) and view.window[-1].id == newest)
            )
        await press("g", lambda: bool(view.window) and view.window[0].id == oldest)
        pages = []
        t_all = time.perf_counter()
        for _ in range(PAGE_DOWNS):
            before = view.cursor_line
            if view.cursor_line is not None and view.cursor_line.id == newest:
                break  # a small store: the end of it is on screen

            def moved(before: LogLine | None = before) -> bool:
                line = view.cursor_line
                return line is not before or (line is not None and line.id == newest)

            pages.append(await press("pagedown", moved))
        # The last press may have started a page fetch at the window's edge.
        await _until(lambda: not view.is_loading)
        out["page_down_total"] = time.perf_counter() - t_all
        if view.cursor_line is None or view.cursor_line.id == oldest:
            raise RuntimeError("page down did not move")
        out["top"] = statistics.median(tops)
        out["bottom"] = statistics.median(bottoms)
        out["page_down"] = statistics.median(pages)
        out["pages"] = len(pages)
        out["repressed"] = repressed
        with open("/proc/self/status") as f:
            out["rss_kb"] = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
    writer.close()
    return out


async def _child_follow(
    db: Path, log_dir: Path, seconds: float, drain: float, query: str, watch: bool
) -> dict[str, object]:
    from klogtui.collect.runner import CollectOptions, start_collection
    from klogtui.store import Store
    from klogtui.ui.app import KlogApp

    store = Store.open(db, check=False)  # as `klogtui --log-dir` opens it
    app = KlogApp(store, history_path=None, query=query)
    app.collection = start_collection(
        CollectOptions(log_dir=log_dir, db=db), store, on_commit=app.committed
    )
    seen: dict[int, int] = {}
    wrote: dict[int, int] = {}
    try:
        async with app.run_test(size=SIZE):
            view = app.log_view
            await _until(lambda: not view.is_loading, 60)
            print("ready", flush=True)
            # Lines arrive until the parent's writer stops; keep looking a little longer.
            deadline = time.monotonic() + seconds + drain
            shown: tuple[object, ...] = ()
            while time.monotonic() < deadline:
                if not watch:  # a memory run: keep no bookkeeping of our own in the app
                    await asyncio.sleep(0.5)
                    continue
                # The rows are read again only when the lines held or the scroll position
                # changed (nothing else moves a line on or off the screen while following):
                # rendering the 45 rows every 10 ms took about a fifth of the app's main
                # thread (py-spy, load ~8), time and GIL no user's terminal takes from it.
                window = view.window
                ends = (window[0].id, window[-1].id) if window else ()
                now_showing = (view.scroll_y, len(window), ends)
                if now_showing == shown:
                    await asyncio.sleep(0.01)
                    continue
                shown = now_showing
                now = time.time_ns()
                for row in view.rendered_rows():
                    m = _ROW_RE.search(row)
                    if m:
                        seq = int(m[1])
                        if seq not in seen:
                            seen[seq] = now
                            wrote[seq] = int(m[2])
                await asyncio.sleep(0.01)
    finally:
        app.collection.stop()
    return {"seen": {str(s): seen[s] - wrote[s] for s in seen}}


def _child(argv: list[str]) -> None:
    # As `klogtui` sets it for the explorer and its collector (cli.py). With Python's
    # default (700) the follow child made 10-14 full collections in 25 s, 140-270 ms
    # each at load 8-11, each stalling the screen: pauses the app as run does not have.
    gc.set_threshold(100_000, 50, 100)
    # And its malloc setting (klogtui.ui.run.run_app), before any thread starts.
    from klogtui.ui.allocator import share_one_arena

    share_one_arena()
    mode = argv[0]
    if mode == "open":
        result = asyncio.run(_child_open(Path(argv[1]), int(argv[2]), float(argv[3])))
    else:
        result = asyncio.run(
            _child_follow(
                Path(argv[1]),
                Path(argv[2]),
                float(argv[3]),
                float(argv[4]),
                argv[5],
                argv[6] == "1",
            )
        )
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- parent side


def _run_child(args: list[str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ui child {args[0]} failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def open_app(db: Path, runs: int) -> OpenResult:
    """Open db in the app (child process) and time first paint, g/G and page down."""
    r = _run_child(["open", str(db), str(runs), repr(time.time())], timeout=600)
    return OpenResult(
        first_paint=float(r["first_paint"]),
        first_paint_process=float(r["first_paint_process"]),
        top=float(r["top"]),
        bottom=float(r["bottom"]),
        page_down=float(r["page_down"]),
        page_down_total=float(r["page_down_total"]),
        pages=int(r["pages"]),
        rss_mb=float(r["rss_kb"]) / 1024,
        repressed={str(k): int(v) for k, v in r["repressed"].items()},
    )


def follow_app(
    seconds: float,
    rate: float,
    query: str,
    base_store: Path | None = None,
    warmup: float = 2.0,
    drain: float = 3.0,
    log: Callable[[str], None] = print,
    watch: bool = True,
) -> FollowResult:
    """Run the following app while a writer appends `rate` lines/s for `seconds`.

    Args:
        seconds: how long the writer writes.
        rate: lines per second over all FILES files.
        query: what the app shows (e.g. ``pod=writer-00`` for on-screen latency).
        base_store: a store to start from (copied first, never changed), or None.
        warmup: seconds of lines left out of the latency figures.
        drain: how long the app keeps watching after the writer stopped.
        log: told about problems.
        watch: record when lines appear on screen; a run that only measures memory
            passes False, so the app's RSS holds none of the harness's bookkeeping.
    """
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        root = Path(tmp) / "logs"
        db = Path(tmp) / "app.db"
        make_live_dir(root)
        if base_store is not None:
            for suffix in ("", "-wal"):
                if Path(f"{base_store}{suffix}").exists():
                    shutil.copyfile(f"{base_store}{suffix}", f"{db}{suffix}")
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                "follow",
                str(db),
                str(root),
                str(seconds),
                str(drain),
                query,
                "1" if watch else "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stderr is not None
        errors: list[str] = []
        stderr = child.stderr
        stderr_reader = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
        stderr_reader.start()
        first_line = child.stdout.readline().strip()
        if first_line != "ready":
            child.wait()
            stderr_reader.join(5)
            raise RuntimeError(
                f"ui follow child exited {child.returncode} before it was ready "
                f"({first_line!r}): {''.join(errors)[-800:]}"
            )
        # Read the result while the child runs: it can outgrow the pipe's buffer, and a
        # child blocked writing it would never exit.
        results: list[str] = []
        stdout = child.stdout
        stdout_reader = threading.Thread(target=lambda: results.append(stdout.read()), daemon=True)
        stdout_reader.start()
        writer = start_writer(root, rate, seconds)
        started = time.monotonic()
        limit = seconds + drain + _FOLLOW_GRACE_S
        rss: list[float] = []
        killed = False
        while writer.poll() is None or child.poll() is None:
            kb = rss_kb(child.pid)
            if kb:
                rss.append(kb / 1024)
            time.sleep(1.0)
            if child.poll() is None and time.monotonic() - started > limit:
                child.kill()
                killed = True
        total = int((writer.communicate()[0] or "0").strip() or 0)
        child.wait()
        stdout_reader.join(5)
        stderr_reader.join(5)
        out = "".join(results)
        if killed:
            raise RuntimeError(f"ui follow child still running after {limit:.0f} s: killed")
        if child.returncode != 0:
            raise RuntimeError(
                f"ui follow child exited {child.returncode}: {''.join(errors)[-800:]}"
            )
    seen = {int(k): v for k, v in json.loads(out.strip().splitlines()[-1])["seen"].items()}
    first = int(rate * warmup)
    mine = _selected_seqs(query, first, total) if watch else []
    lat = [seen[s] / 1e9 for s in mine if s in seen]
    if mine and len(lat) < len(mine):
        log(f"  on screen: {len(mine) - len(lat)} of {len(mine)} lines never appeared")
    return FollowResult(percentile(lat, 50), percentile(lat, 99), len(mine), len(lat), rss)


def _selected_seqs(query: str, first: int, total: int) -> list[int]:
    """The sequence numbers QUERY shows: live.py writes seq to file seq % FILES."""
    m = re.fullmatch(r"pod=writer-(\d+)", query)
    if m is None:
        return []
    i = int(m[1])
    return [s for s in range(first, total) if s % FILES == i]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
    else:
        print(open_app(Path(sys.argv[1]), 3))
