"""The demo cluster: reproducible kubelet-style files, collected exactly once."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from klogtui.collect.demo.cluster import DemoCluster
from klogtui.formats.fields import fields_of
from klogtui.model import Flag, Level, Stream
from tests.helpers_files import T0, Run, sources
from tests.waiting import wait_for


def _tree(root: Path) -> dict[str, bytes]:
    """Every file's content (decompressed) and every link's target, relative to root."""
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = os.readlink(p).replace(str(root), "").encode()
        elif p.is_file():
            data = p.read_bytes()
            out[rel] = gzip.decompress(data) if p.name.endswith(".gz") else data
    return out


def test_same_seed_same_files_whatever_the_step_sizes(tmp_path: Path) -> None:
    one = DemoCluster(tmp_path / "one", seed=7, start_ns=T0)
    one.prefill(4)
    many = DemoCluster(tmp_path / "many", seed=7, start_ns=T0)
    for _ in range(120):
        many.step(0.5)
    many.step(180)
    one.stop()
    many.stop()
    assert one.lines_written == many.lines_written > 60_000
    assert _tree(tmp_path / "one") == _tree(tmp_path / "many")
    other = DemoCluster(tmp_path / "other", seed=8, start_ns=T0)
    other.prefill(1)
    other.stop()
    assert _tree(tmp_path / "other").keys() != _tree(tmp_path / "one").keys()


def test_demo_collected_exactly_once_with_its_whole_lifecycle(tmp_path: Path) -> None:
    demo = DemoCluster(
        tmp_path / "logs", seed=1, start_ns=T0, rate_scale=0.2, rotate_bytes=96 << 10
    )
    with Run(tmp_path / "logs", tmp_path / "db") as run:
        for _ in range(45):  # 7.5 simulated minutes, the collector following along
            demo.step(10)
            wait_for(lambda: run.physical_lines() == demo.lines_written, what="demo lines")
        demo.stop()
        lines = run.stored()
    # Stack traces are one event each: every physical line written is in one of them.
    assert sum(ln.message.count("\n") + 1 for ln in lines) == demo.lines_written
    assert any(ln.message.startswith("panic: ") and "\ngoroutine " in ln.message for ln in lines)
    events = [e for _, e in demo.events]
    assert any(e.startswith("rotate") for e in events)
    assert any(e.startswith("crash") for e in events)
    assert any(e.startswith("complete") for e in events)
    assert any(e.startswith("delete") for e in events)

    srcs = sources(run.store)
    assert {k.namespace for k in srcs} == {"shop", "data", "monitoring", "kube-system"}
    assert len({(k.namespace, k.pod) for k in srcs}) == 16
    payment = sorted(k.restart for k in srcs if k.pod.startswith("payment"))
    assert payment == list(range(len(payment))) and len(payment) >= 4
    states = {(k.pod, k.restart): s.state for k, s in srcs.items()}
    assert states[("loadgen-6b5c4d3e2-z1x2c", 0)] == "deleted"
    assert states[("payment-8c7b6a5d4-m9n8b", 0)] == "terminated"

    assert run.stats.snapshot().malformed == 0  # Docker json-file and zoned CRI lines parse
    messages = [ln.message for ln in lines]
    longest = max(messages, key=len)
    assert len(longest) > 16384 and longest.startswith('{"level": "debug"')  # P fragments joined
    assert any("[bold red]ALERT[/]" in m for m in messages)
    assert any("\x1b[31mERROR\x1b[0m" in m for m in messages)
    assert any(m.startswith("panic: runtime error") for m in messages)
    assert any(ln.stream == Stream.STDERR for ln in lines)
    assert not any(ln.flags & Flag.MALFORMED for ln in lines)
    assert all(T0 <= ln.ts <= demo.now_ns for ln in lines)  # zoned times read right


def test_demo_shows_real_shapes_as_events(tmp_path: Path) -> None:
    """Spring Boot with Java traces, a Python worker's chained tracebacks, zap and logrus
    JSON, logfmt, an ANSI-coloured dev server: each trace one event at level error."""
    demo = DemoCluster(tmp_path / "logs", seed=1, start_ns=T0)
    demo.prefill(3)
    demo.stop()
    with Run(tmp_path / "logs", tmp_path / "db").caught_up(60) as run:
        assert run.writer.flush(10)
        reader = run.store.reader()
        try:
            lines = reader.oldest("", 10**7)
            hikari = reader.oldest("HikariPool", 10**7)
        finally:
            reader.close()
    java = [ln for ln in lines if "\njava.lang" in ln.message or "Exception: order" in ln.message]
    assert java and all(Level(ln.level) == Level.ERROR for ln in java)
    assert all("\nCaused by: " in ln.message and "\t... 48 more" in ln.message for ln in java)
    assert all(ln.message.endswith("\t... 12 common frames omitted") for ln in java)
    # Searching a word of a "Caused by:" line finds the whole trace (and the warnings).
    assert {ln.id for ln in java} <= {ln.id for ln in hikari}
    python = [ln for ln in lines if ln.message.startswith("ERROR:mailer.worker:")]
    assert python and all(
        ln.message.count("Traceback (most recent call last):") == 2 for ln in python
    )
    assert all(Level(ln.level) == Level.ERROR for ln in python)
    coloured = [ln for ln in lines if ln.message.startswith("\x1b[2m") and "ERROR" in ln.message]
    assert coloured and all(Level(ln.level) == Level.ERROR for ln in coloured)
    zap = [ln for ln in lines if ln.message.startswith('{"level": ') and '"caller": ' in ln.message]
    assert zap and all(fields_of(ln.message, ln.fields) for ln in zap)
    logfmt = [ln for ln in lines if ln.message.startswith("time=") and "order_id=" in ln.message]
    assert logfmt and all("order_id" in (fields_of(ln.message, ln.fields) or {}) for ln in logfmt)
