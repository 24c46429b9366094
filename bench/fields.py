"""Field queries and field facets on big stores, beside a plain text query, same run.

The store holds JSON and logfmt events mixed (about half each, over 50 containers and
three hours), their fields stored as ingest stores them (`formats.fields.stored_fields`:
a JSON line's fields are the message itself, a logfmt line's a JSON copy), written
through the real `Writer`. Every 20th event has a status >= 500 (JSON numbers, logfmt
text); the others 200-499. The messages are gen.py's texts (COMMON_WORD in ~30%).

Measured in process, medians:
- newest 200 of `.status>=500` at --lines (target <= 50 ms), beside newest 200 of the
  text query COMMON_WORD (the baseline);
- facets of `.status` (values and counts over the newest 50,000 events holding it) and
  the field names of the newest 5,000, at --facet-lines (target <= 1 s).

Stores are cached in --data-dir (default /tmp/klogtui-bench-fields), rebuilt when the
store layout (klogtui/store/{schema,writer,ids}.py) or this generator changes.

    python bench/fields.py --lines 5000000 --facet-lines 1000000 --runs 7
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gen  # noqa: E402
from search import _layout_key  # noqa: E402

from klogtui.formats.fields import fields_of, stored_fields  # noqa: E402
from klogtui.model import Batch, Level, Record, SourceKey, Stream  # noqa: E402
from klogtui.store import Reader, Store  # noqa: E402

__all__ = ["build", "measure"]

_VERSION = 1  # bump when the generated events change
_DATA_DIR = Path("/tmp/klogtui-bench-fields")
_CONTAINERS = 50
_MATCH_EVERY = 20
_SUBMIT = 20_000
_LIMIT = 200
FIELD_QUERY = ".status>=500"
TEXT_QUERY = gen.COMMON_WORD
_LEVELS = [("info", Level.INFO)] * 8 + [("warn", Level.WARN), ("error", Level.ERROR)]


def _event(rng: random.Random, i: int) -> tuple[str, int]:
    """Event i: (message, level)."""
    status = rng.choice((500, 502, 503)) if i % _MATCH_EVERY == 0 else rng.randrange(200, 500)
    kind = "common" if rng.random() < 0.3 else "plain"
    text = gen._text(rng, kind).replace('"', "'")
    name, level = rng.choice(_LEVELS)
    latency = rng.randrange(1, 3000)
    if rng.random() < 0.5:
        user = rng.randrange(1, 5000)
        message = (
            f'{{"level":"{name}","ts":{i},"msg":"{text}","status":{status},'
            f'"latency_ms":{latency},"user":{{"id":{user}}},"route":"/api/{rng.choice(gen._WORDS)}"}}'
        )
    else:
        message = (
            f'level={name} msg="{text}" status={status} latency_ms={latency} '
            f"caller={rng.choice(gen._WORDS)}.go:{rng.randrange(1, 400)}"
        )
    return message, level


def build(lines: int, data_dir: Path, log: Callable[[str], None] = print) -> Path:
    """The store of `lines` events (see the module docstring), built unless cached."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / f"fields-{lines}-v{_VERSION}.db"
    marker = db.with_suffix(".json")
    key = _layout_key()
    try:
        if json.loads(marker.read_text()).get("layout") == key and db.exists():
            return db
    except (OSError, ValueError):
        pass
    marker.unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    log(f"building the {lines:,}-event field store ...")
    started = time.perf_counter()
    rng = random.Random(lines)
    keys = [SourceKey("shop", f"api-{c:02d}", "app", 0, f"uid-{c}") for c in range(_CONTAINERS)]
    step = max(1, gen._SPAN_NS // lines)
    store = Store.open(db)
    writer = store.start_writer()
    try:
        pending: list[Record] = []
        for i in range(lines):
            message, level = _event(rng, i)
            level, fields = stored_fields(message, level)
            ts = gen._T0_NS + i * step
            source = keys[i % _CONTAINERS]
            pending.append(Record(ts, source, Stream.STDOUT, message, level, 0, fields))
            if len(pending) >= _SUBMIT:
                writer.submit(Batch(pending))
                pending = []
        writer.submit(Batch(pending))
        if not writer.flush(3600):
            raise RuntimeError("the writer did not finish")
    finally:
        writer.close()
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"layout": key, "lines": lines, "seconds": seconds}))
    log(f"  built in {seconds:.0f} s: {db}")
    return db


def _median(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: compile, cache pages
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _check_field_hits(reader: Reader) -> None:
    lines = reader.newest(FIELD_QUERY, _LIMIT)
    if len(lines) != _LIMIT:
        raise RuntimeError(f"{FIELD_QUERY}: {len(lines)} events, expected {_LIMIT}")
    for line in lines:
        fields = fields_of(line.message, line.fields) or {}
        if float(str(fields.get("status"))) < 500:
            raise RuntimeError(f"{FIELD_QUERY} returned {line.message}")


def measure(lines: int, facet_lines: int, runs: int, data_dir: Path) -> list[str]:
    """The result rows (markdown) for the two stores."""
    big = build(lines, data_dir)
    small = big if facet_lines == lines else build(facet_lines, data_dir)
    rows = []
    reader = Reader(big)
    try:
        _check_field_hits(reader)
        field = _median(lambda: reader.newest(FIELD_QUERY, _LIMIT), runs)
        text = _median(lambda: reader.newest(TEXT_QUERY, _LIMIT), runs)
    finally:
        reader.close()
    verdict = "PASS" if field <= 0.050 else "FAIL"
    rows.append(
        f"| newest {_LIMIT} `{FIELD_QUERY}` @{lines:,} (1 in {_MATCH_EVERY}) | "
        f"{field * 1000:.1f} ms | `{TEXT_QUERY}` {text * 1000:.1f} ms | <= 50 ms | {verdict} |"
    )
    reader = Reader(small)
    try:
        values, exact = reader.facets("", ".status")
        if not values:
            raise RuntimeError(".status facets are empty")
        facets = _median(lambda: reader.facets("", ".status"), runs)
        names = _median(lambda: reader.field_names(""), runs)
        level = _median(lambda: reader.facets("", "level"), runs)
    finally:
        reader.close()
    counted = "exact" if exact else "newest 50,000"
    rows.append(
        f"| facets `.status` @{facet_lines:,} ({counted}) | {facets * 1000:.0f} ms | "
        f"`level` facets {level * 1000:.0f} ms | <= 1 s | {'PASS' if facets <= 1 else 'FAIL'} |"
    )
    rows.append(
        f"| field names @{facet_lines:,} (newest 5,000) | {names * 1000:.0f} ms | "
        f"| <= 1 s | {'PASS' if names <= 1 else 'FAIL'} |"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--facet-lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--data-dir", type=Path, default=_DATA_DIR)
    args = ap.parse_args(argv)
    rows = measure(args.lines, args.facet_lines, args.runs, args.data_dir)
    print(f"in process, median of {args.runs} runs after a warm-up")
    print("| benchmark | klogtui (median) | baseline (median) | target | result |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
