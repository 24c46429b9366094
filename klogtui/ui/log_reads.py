"""The log pane's reads: where its query meets the Reader (the one place that does).

Each function runs one request of klogtui.ui.log_window on a worker thread with the
pane's own Reader and returns the result the window model takes. They block; the
pane runs them in thread workers and interrupts them through Reader.interrupt.
"""

from __future__ import annotations

from klogtui.model import LogLine, Source
from klogtui.store.reads import LogReader
from klogtui.ui.log_window import (
    CountNew,
    FindMatch,
    LoadPage,
    LoadWindow,
    Page,
    ReadNewest,
    Window,
)

__all__ = ["count_new", "find_match", "read_newest", "read_page", "read_window", "sources_of"]


def read_window(reader: LogReader, req: LoadWindow) -> Window:
    """The lines of a new window: newest, oldest, or around a line id."""
    cq = reader.compile(req.query)
    if req.mode == "newest":
        lines = reader.newest(cq, req.size)
        at_top, at_bottom = len(lines) < req.size, True
    elif req.mode == "oldest":
        lines = reader.oldest(cq, req.size)
        at_top, at_bottom = True, len(lines) < req.size
    else:
        before = reader.window_before(cq, req.pivot_id, req.half)
        after = reader.window_after(cq, req.pivot_id - 1, req.half)
        lines = before + after
        at_top, at_bottom = len(before) < req.half, len(after) < req.half
    return Window(
        lines,
        at_top,
        at_bottom,
        cq.highlight,
        sources_of(reader, lines),
        anchor_id=req.anchor_id,
        follow=req.follow,
    )


def read_page(reader: LogReader, req: LoadPage) -> Page:
    """The page of lines past one window edge."""
    if req.older:
        lines = reader.window_before(req.query, req.edge_id, req.size)
    else:
        lines = reader.window_after(req.query, req.edge_id, req.size)
    return Page(lines, len(lines) < req.size, sources_of(reader, lines), req.edge_id)


def read_newest(reader: LogReader, req: ReadNewest) -> Window:
    """The newest lines, for follow mode."""
    lines = reader.newest(req.query, req.size)
    return Window(
        lines,
        len(lines) < req.size,
        True,
        req.highlight,
        sources_of(reader, lines),
        follow=True,
    )


def find_match(reader: LogReader, req: FindMatch) -> Window | None:
    """The window around the first line past the edge that the pattern finds (None: no
    such line within req.scan lines)."""
    forward = req.step > 0
    cursor, seen = req.edge_id, 0
    while seen < req.scan:
        page = (
            reader.window_after(req.query, cursor, req.size)
            if forward
            else reader.window_before(req.query, cursor, req.size)
        )
        if not page:
            break
        seen += len(page)
        for ln in page if forward else reversed(page):
            if req.pattern.search(ln.message):
                before = reader.window_before(req.query, ln.id, req.half)
                after = reader.window_after(req.query, ln.id - 1, req.half)
                return Window(
                    before + after,
                    len(before) < req.half,
                    len(after) < req.half,
                    req.highlight,
                    sources_of(reader, before + after),
                    anchor_id=ln.id,
                )
        cursor = page[-1].id if forward else page[0].id
    return None


def count_new(reader: LogReader, req: CountNew) -> tuple[int, int]:
    """The newest matching id and the lines stored after req.hwm_id (capped); with no
    hwm_id yet, the newest id (-1: none) and 0."""
    if req.hwm_id is None:
        newest = reader.newest(req.query, 1)
        return (newest[-1].id if newest else -1), 0
    return req.hwm_id, reader.count_after(req.query, req.hwm_id, req.cap)


def sources_of(reader: LogReader, lines: list[LogLine]) -> dict[int, Source]:
    """The sources of some lines (reader-cached; refreshed when a new one shows up)."""
    out: dict[int, Source] = {}
    for sid in {ln.source_id for ln in lines}:
        src = reader.source(sid)
        if src is not None:
            out[sid] = src
    return out
