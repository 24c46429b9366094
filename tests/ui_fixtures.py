"""Deterministic stores for the UI tests and snapshots: fixed sources, times and text.

`build_demo_store` writes a small cluster's worth of lines (several namespaces, pods
with restarts, a deleted pod, JSON and logfmt messages, warnings and errors, one line
with Rich markup and one with a terminal escape) through the real Writer. Everything
is derived from the line index, so every run writes the same store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.worker import WorkerCancelled, WorkerFailed

from klogtui.model import Batch, Level, Record, SourceInfo, SourceKey, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.store import Store
from klogtui.ui.widgets.log_view import LogView
from tests.store_helpers import SEC, T0

__all__ = [
    "FIXED_NOW",
    "MARKUP_LINE",
    "ESCAPE_LINE",
    "ESCAPE_SHOWN",
    "SOURCES",
    "LogHost",
    "build_demo_store",
    "build_empty_store",
    "build_numbered_store",
    "settle",
    "until",
]

# "Now" for the app in tests: ten minutes after the fixture's first line, same UTC day.
FIXED_NOW = T0 + 600 * SEC
MARKUP_LINE = "render [bold red]this[/] literally"
# Its SGR colour is shown as a style; the title (OSC), the erase and the bell stay inert.
ESCAPE_LINE = "colour \x1b[31mred\x1b[0m \x1b]0;t\x07 \x1b[2J stay inert"
ESCAPE_SHOWN = "colour red \\x1b]0;t\\x07 \\x1b[2J stay inert"


class LogHost(App[None]):
    """The log pane alone in an app, on its own `reader` of `store`, showing `query`."""

    def __init__(self, store: Store, query: str = "") -> None:
        super().__init__()
        self.store = store
        self.reader = store.reader()
        self.initial_query = query

    def compose(self) -> ComposeResult:
        yield LogView(self.reader, now_ns=FIXED_NOW)

    def on_mount(self) -> None:
        view = self.query_one(LogView)
        view.set_query(ParsedQuery.of(self.initial_query))
        view.focus()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)


def _key(ns: str, pod: str, container: str, restart: int = 0) -> SourceKey:
    return SourceKey(ns, pod, container, restart, pod_uid=f"uid-{ns}-{pod}")


SOURCES: list[SourceInfo] = [
    SourceInfo(
        _key("shop", "checkout-7d9f8", "app"),
        container_id="c1",
        node="node-a",
        labels={"app": "checkout", "tier": "web"},
        state="running",
    ),
    SourceInfo(
        _key("shop", "checkout-7d9f8", "istio-proxy"),
        container_id="c2",
        node="node-a",
        labels={"app": "checkout", "tier": "web"},
        state="running",
    ),
    SourceInfo(
        _key("shop", "cart-5b6c", "app"),
        container_id="c3",
        node="node-b",
        labels={"app": "cart"},
        state="terminated",
        reason="Error",
    ),
    SourceInfo(
        _key("shop", "cart-5b6c", "app", 1),
        container_id="c4",
        node="node-b",
        labels={"app": "cart"},
        state="running",
    ),
    SourceInfo(
        _key("payments", "api-6f7d", "api"),
        container_id="c5",
        node="node-b",
        labels={"app": "payments-api"},
        state="running",
    ),
    SourceInfo(
        _key("kube-system", "coredns-abc12", "coredns"),
        container_id="c6",
        node="node-a",
        labels={"k8s-app": "kube-dns"},
        state="running",
    ),
    SourceInfo(
        _key("shop", "old-batch-1", "job"),
        container_id="c7",
        node="node-b",
        labels={"job": "old-batch"},
        state="deleted",
        reason="Completed",
    ),
]

_TEMPLATES: list[tuple[str, int, int]] = [
    (
        '{"level":"info","msg":"order placed","order_id":%d,"amount":42.5}',
        Level.INFO,
        Stream.STDOUT,
    ),
    ("GET /api/cart/%d 200 12ms", Level.UNKNOWN, Stream.STDOUT),
    ('level=warn msg="slow upstream" upstream=payments latency_ms=%d', Level.WARN, Stream.STDOUT),
    ("ERROR payment declined: connection refused (attempt %d)", Level.ERROR, Stream.STDERR),
    ("[INFO] plugin/reload: Running configuration SHA512 = %d", Level.INFO, Stream.STDOUT),
    ("health check ok %d", Level.UNKNOWN, Stream.STDOUT),
    ("request timeout after %dms talking to inventory", Level.WARN, Stream.STDERR),
]


def build_demo_store(path: Path, lines: int = 420) -> Store:
    """A demo-like store: `lines` lines over the first seven minutes after T0."""
    store = Store.open(path)
    records: list[Record] = []
    step = 420 * SEC // lines
    for i in range(lines):
        src = SOURCES[(i * 5 + i // 7) % len(SOURCES)].key
        template, level, stream = _TEMPLATES[(i * 3 + i // 5) % len(_TEMPLATES)]
        records.append(Record(T0 + i * step, src, stream, template % i, level))
    # Two lines that must be shown literally, near the newest end.
    records.append(Record(T0 + lines * step, SOURCES[0].key, Stream.STDOUT, MARKUP_LINE, 0))
    records.append(
        Record(T0 + lines * step + 1_000, SOURCES[4].key, Stream.STDERR, ESCAPE_LINE, Level.ERROR)
    )
    writer = store.start_writer()
    try:
        writer.submit(Batch(records=records, sources=list(SOURCES)))
        assert writer.flush(30)
    finally:
        writer.close()
    return store


def build_numbered_store(path: Path, lines: int, sources: int = 3) -> Store:
    """Lines "line 000000" … in time order, one second apart, round-robin over sources."""
    store = Store.open(path)
    keys = [_key("ns", f"pod-{i}", "c") for i in range(sources)]
    writer = store.start_writer()
    try:
        batch: list[Record] = []
        for i in range(lines):
            batch.append(
                Record(
                    T0 + i * SEC,
                    keys[i % sources],
                    Stream.STDOUT,
                    f"line {i:06d}",
                    Level.ERROR if i % 100 == 99 else 0,
                )
            )
            if len(batch) >= 20_000:
                writer.submit(Batch(records=batch))
                batch = []
        writer.submit(Batch(records=batch, sources=[SourceInfo(k, state="running") for k in keys]))
        assert writer.flush(120)
    finally:
        writer.close()
    return store


def build_empty_store(path: Path) -> Store:
    """A store with its schema and no lines (what a first start sees)."""
    return Store.open(path)


async def settle(pilot: Pilot[Any], rounds: int = 20) -> None:
    """Wait until the app's workers are done and their messages handled."""
    app = pilot.app
    for _ in range(rounds):
        for worker in list(app.workers):
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # superseded work, or a failure the app reports itself
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return


async def until(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until cond() holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await pilot.pause(0.01)


def text_of(widget: Widget) -> str:
    """What a widget shows, as plain text lines (padding and border included)."""
    width, height = widget.outer_size
    strips = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(s.text.rstrip() for s in strips)
