"""The log pane's window model without a screen: cursor, paging, queued keys, follow,
new-line counts, find and window trimming (pure unit tests: no Textual, no store).

The tests play the pane: they take the read the model asks for, answer it with lines
of a pretend result (ids 0, 1, 2, …, one row a line) and make the moves it hands back.
"""

from __future__ import annotations

import re

from klogtui.model import LogLine
from klogtui.query.parsed import EMPTY, ParsedQuery
from klogtui.ui.log_window import (
    FIND_SCAN,
    PAGE,
    FindMatch,
    LoadPage,
    LoadWindow,
    LogWindow,
    Move,
    Page,
    ReadNewest,
    Wait,
    Window,
    max_window,
)

ROWS = 10  # rows on the pretend screen


def line(i: int, message: str | None = None) -> LogLine:
    return LogLine(i, 1_000 + i, 1, 1, 0, 0, f"line {i}" if message is None else message)


def lines(lo: int, hi: int) -> list[LogLine]:
    return [line(i) for i in range(lo, hi)]


def opened(lo: int, hi: int, *, at_top: bool = False, at_bottom: bool = False) -> LogWindow:
    """A model showing lines lo..hi-1 (newest at the bottom), paused, cursor on lo."""
    w = LogWindow()
    req = w.load("oldest", ROWS)
    assert w.current(req.generation)
    placement = w.apply_window(Window(lines(lo, hi), at_top, at_bottom, ("line",), {}))
    assert placement == "top"
    return w


def next_move(w: LogWindow) -> Move | Wait | None:
    """The model's next queued move, with one row a line."""
    row = max(w.cursor, 0)
    return w.next_move(row, len(w.lines), ROWS)


def make(w: LogWindow, move: Move) -> None:
    """Make a move as the pane does (one row a line)."""
    steps = {"line_up": -1, "line_down": 1, "page_up": -ROWS, "page_down": ROWS}
    w.set_cursor(w.cursor + steps[move])


def drain(w: LogWindow) -> list[Move]:
    """Make the queued moves up to one that waits; the moves made."""
    made: list[Move] = []
    while isinstance(step := next_move(w), str):
        make(w, step)
        made.append(step)
    return made


def answer(req: LoadPage, lo: int, hi: int, *, at_end: bool = False) -> Page:
    return Page(lines(lo, hi), at_end, {}, req.edge_id)


# -- loading ------------------------------------------------------------------------------


def test_a_newest_load_follows_with_the_cursor_on_the_last_line() -> None:
    w = LogWindow()
    req = w.load("newest", ROWS, follow=True)
    assert (req.mode, req.size, req.follow, req.generation) == ("newest", PAGE, True, 1)
    assert w.loading and w.follow
    placement = w.apply_window(Window(lines(0, 30), True, True, (), {}, follow=True))
    assert placement == "bottom"
    assert w.cursor_id == 29 and w.follow and not w.loading and w.hwm_id == 29


def test_a_load_at_a_line_puts_the_cursor_on_the_first_line_at_or_after_it() -> None:
    w = LogWindow()
    req = w.load("at", ROWS, anchor_id=15)
    assert (req.pivot_id, req.half, req.anchor_id) == (15, max(PAGE // 2, ROWS), 15)
    window = [line(i) for i in range(0, 40, 2)]  # even ids only: 15 is not among them
    assert w.apply_window(Window(window, False, False, (), {}, anchor_id=15)) == "anchor"
    assert w.cursor_id == 16 and not w.follow


def test_an_empty_result_has_no_cursor() -> None:
    w = LogWindow()
    w.load("newest", ROWS, follow=True)
    assert w.apply_window(Window([], True, True, (), {}, follow=True)) == "empty"
    assert w.cursor == -1 and w.cursor_line is None and w.no_matches


def test_a_new_load_makes_older_results_stale() -> None:
    w = opened(0, 30)
    first = w.load("oldest", ROWS)
    second = w.load("newest", ROWS, follow=True)
    assert not w.current(first.generation) and w.current(second.generation)


def test_set_query_keeps_the_cursor_time_when_paused() -> None:
    w = opened(100, 200)
    w.set_cursor(20)
    req = w.set_query(ParsedQuery.of("error"), ROWS)
    assert (req.query.typed, req.mode, req.anchor_id) == ("error", "at", 120)
    w.follow = True
    assert w.set_query(EMPTY, ROWS).mode == "newest"


# -- cursor moves and paging ------------------------------------------------------------------


def test_the_cursor_stays_inside_the_window() -> None:
    w = opened(0, 30, at_top=True, at_bottom=True)
    w.set_cursor(-5)
    assert w.cursor == 0
    w.set_cursor(99)
    assert w.cursor == 29


def test_moving_off_the_last_line_stops_following() -> None:
    w = LogWindow()
    w.load("newest", ROWS, follow=True)
    w.apply_window(Window(lines(0, 30), True, True, (), {}, follow=True))
    w.new_lines = 7
    assert not w.set_cursor(29) and w.follow  # still on the last line
    assert w.set_cursor(28)
    assert not w.follow and w.new_lines == 0
    assert not w.set_cursor(27)  # already paused: nothing changes


def test_moves_at_the_ends_of_the_result_do_not_wait() -> None:
    w = opened(0, 30, at_top=True, at_bottom=True)
    w.press("line_up")
    assert drain(w) == ["line_up"] and w.cursor == 0
    w.set_cursor(29)
    w.press("line_down")
    w.press("page_down")
    assert drain(w) == ["line_down", "page_down"] and w.cursor == 29


def test_a_move_past_the_window_waits_for_the_page_then_keys_replay_in_order() -> None:
    w = opened(0, 30)  # more lines exist below
    w.set_cursor(29)
    w.press("line_down")
    step = next_move(w)
    assert isinstance(step, Wait) and step.read is not None
    assert (step.read.older, step.read.edge_id, step.read.size) == (False, 29, PAGE)
    assert w.pending_newer
    # More keys while the page is on its way: they queue, nothing is read twice.
    w.press("line_down")
    w.press("line_up")
    w.press("line_down")
    assert next_move(w) == Wait(None)
    assert w.queued == ["line_down", "line_down", "line_up", "line_down"]
    dropped = w.apply_newer(answer(step.read, 30, 60), max_window(ROWS))
    assert dropped == 0 and not w.pending_newer
    assert drain(w) == ["line_down", "line_down", "line_up", "line_down"]
    assert w.cursor_id == 31 and w.queued == []


def test_a_page_up_near_the_window_top_waits_for_the_older_page() -> None:
    w = opened(100, 130)
    w.set_cursor(ROWS - 1)  # less than a page above the cursor
    w.press("page_up")
    step = next_move(w)
    assert isinstance(step, Wait) and step.read is not None and step.read.older
    assert step.read.edge_id == 100
    added = w.apply_older(answer(step.read, 70, 100), max_window(ROWS))
    assert added == 30 and w.cursor_id == 100 + ROWS - 1  # the same line, further down
    assert drain(w) == ["page_up"] and w.cursor_id == 99


def test_a_page_down_across_the_window_edge_waits() -> None:
    w = opened(0, 30)
    w.set_cursor(30 - ROWS)  # a page down reaches the last row
    w.press("page_down")
    step = next_move(w)
    assert isinstance(step, Wait) and step.read is not None and not step.read.older
    w.set_cursor(30 - ROWS - 1)
    assert next_move(w) == "page_down"  # one row more before the edge: no wait


def test_a_load_drops_the_queued_keys_and_a_failed_read_too() -> None:
    w = opened(0, 30)
    w.set_cursor(29)
    w.press("line_down")
    assert isinstance(next_move(w), Wait)
    w.load("oldest", ROWS)
    assert w.queued == [] and not w.pending_newer
    w.apply_window(Window(lines(0, 30), True, False, (), {}))
    w.set_cursor(29)
    w.press("line_down")
    assert isinstance(next_move(w), Wait)
    w.apply_failed()
    assert w.queued == [] and not w.pending_newer and not w.loading
    assert next_move(w) is None


def test_a_page_for_a_window_that_moved_on_is_not_added() -> None:
    w = opened(0, 30)
    req = w.extend(older=False)
    assert req is not None
    w.apply_window(Window(lines(50, 80), False, False, (), {}))  # a jump, same generation
    assert w.apply_newer(answer(req, 30, 60), max_window(ROWS)) is None
    assert w.ids[0] == 50 and len(w.lines) == 30 and not w.pending_newer


def test_pages_near_the_edges_are_fetched_once() -> None:
    w = opened(100, 200)
    reads = w.edge_reads(rows_above=ROWS - 1, rows_below=ROWS - 1, page_rows=ROWS)
    assert [(r.older, r.edge_id) for r in reads] == [(True, 100), (False, 199)]
    assert w.edge_reads(0, 0, ROWS) == []  # both on their way
    far = opened(100, 200)
    assert far.edge_reads(ROWS, ROWS, ROWS) == []  # a page away from both edges
    following = opened(100, 200)
    following.follow = True
    assert [r.older for r in following.edge_reads(0, 0, ROWS)] == [True]
    loading = opened(100, 200)
    loading.load("oldest", ROWS)
    assert loading.edge_reads(0, 0, ROWS) == []


# -- trimming the window --------------------------------------------------------------------


def test_paging_down_trims_the_top_and_keeps_the_cursor_line() -> None:
    w = opened(0, 60)
    w.set_cursor(50)
    req = w.extend(older=False)
    assert req is not None
    dropped = w.apply_newer(answer(req, 60, 90), limit=75)
    assert dropped == 15
    assert w.ids[0] == 15 and w.ids[-1] == 89 and len(w.lines) == 75
    assert w.cursor_id == 50 and not w.at_top


def test_paging_up_trims_the_bottom_and_keeps_the_cursor_line() -> None:
    w = opened(100, 160, at_bottom=True)
    w.set_cursor(5)
    req = w.extend(older=True)
    assert req is not None
    assert w.apply_older(answer(req, 70, 100, at_end=True), limit=75) == 30
    assert w.ids[0] == 70 and w.ids[-1] == 144 and len(w.lines) == 75
    assert w.cursor_id == 105 and w.at_top and not w.at_bottom


def test_a_tall_screen_holds_more_lines() -> None:
    assert max_window(ROWS) >= 4 * ROWS
    assert max_window(1000) == 4 * 1000 + 3 * PAGE


# -- follow, pause, new lines -----------------------------------------------------------------


def test_nothing_is_read_for_new_lines_before_the_first_window() -> None:
    w = LogWindow()
    w.load("newest", ROWS, follow=True)
    assert w.data_changed() is None


def test_following_rereads_the_newest_lines_one_read_at_a_time() -> None:
    w = LogWindow()
    w.load("newest", ROWS, follow=True)
    w.apply_window(Window(lines(0, 30), True, True, ("x",), {}, follow=True))
    assert w.data_changed() == "follow"
    req = w.follow_read(ROWS)
    assert req == ReadNewest(w.generation, EMPTY, ("x",), max(PAGE, 2 * ROWS))
    assert w.follow_read(ROWS) is None  # one in flight: asks collapse into one more
    assert w.follow_read(ROWS) is None
    assert w.apply_follow(Window(lines(0, 33), True, True, ("x",), {}, follow=True))
    assert w.cursor_id == 32 and w.hwm_id == 32
    assert w.follow_done()  # asked meanwhile: once more
    assert w.follow_read(ROWS) is not None
    assert not w.follow_done()  # nothing asked meanwhile


def test_lines_committed_during_a_follow_refresh_are_read_right_after_it() -> None:
    w = LogWindow()
    w.load("newest", ROWS, follow=True)
    w.apply_window(Window(lines(0, 30), True, True, (), {}, follow=True))
    assert w.data_changed() == "follow"
    assert w.follow_read(ROWS) is not None
    # A refresh asked for now could not start (and would count as one in its throttle,
    # holding the next back): the one in flight runs again instead, when it is done.
    assert w.data_changed() is None
    assert w.apply_follow(Window(lines(0, 33), True, True, (), {}, follow=True))
    assert w.follow_done()
    assert w.follow_read(ROWS) is not None
    assert not w.follow_done()


def test_a_follow_refresh_does_not_replace_a_paused_window() -> None:
    w = LogWindow()
    w.load("newest", ROWS, follow=True)
    w.apply_window(Window(lines(0, 30), True, True, (), {}, follow=True))
    assert w.follow_read(ROWS) is not None
    w.follow_read(ROWS)  # asked again while in flight
    w.pause()
    assert not w.apply_follow(Window(lines(0, 40), True, True, (), {}, follow=True))
    assert len(w.lines) == 30
    assert not w.follow_done()  # paused: no second refresh


def test_paused_counts_the_new_lines() -> None:
    w = LogWindow()
    w.load("newest", ROWS, follow=True)
    w.apply_window(Window(lines(0, 30), True, True, (), {}, follow=True))
    w.pause()
    assert w.data_changed() == "count" and not w.at_bottom
    req = w.count_read()
    assert req is not None and req.hwm_id == 29
    assert w.count_read() is None  # one count at a time
    assert w.apply_count(req.generation, 29, 12) == "counted"
    assert w.new_lines == 12
    assert w.count_done()  # asked meanwhile, still paused: count again
    # Following again: a late count is not shown.
    w.load("newest", ROWS, follow=True)
    assert w.apply_count(req.generation, 29, 40) == "stale" and w.new_lines == 12
    w.apply_window(Window(lines(0, 40), True, True, (), {}, follow=True))
    assert w.new_lines == 0


def test_paging_down_to_the_newest_line_clears_the_count() -> None:
    w = opened(0, 30)
    w.new_lines = 5
    req = w.extend(older=False)
    assert req is not None
    w.apply_newer(answer(req, 30, 35, at_end=True), max_window(ROWS))
    assert w.new_lines == 0 and w.hwm_id == 34 and w.at_bottom


def test_an_empty_paused_window_reloads_when_matches_arrive() -> None:
    w = LogWindow()
    w.load("oldest", ROWS)
    w.apply_window(Window([], True, True, (), {}))
    req = w.count_read()
    assert req is not None and req.hwm_id is None
    assert w.apply_count(req.generation, -1, 0) == "counted"  # still none
    assert w.apply_count(req.generation, 41, 0) == "reload"


# -- find -----------------------------------------------------------------------------------


ERR = re.compile("error")


def with_messages(messages: list[str], *, at_top: bool, at_bottom: bool) -> LogWindow:
    w = LogWindow()
    w.load("oldest", ROWS)
    window = [line(i, m) for i, m in enumerate(messages)]
    w.apply_window(Window(window, at_top, at_bottom, ("error",), {}))
    return w


def test_find_steps_to_the_next_and_previous_match_in_the_window() -> None:
    w = with_messages(["error a", "ok", "ok", "error b", "ok"], at_top=True, at_bottom=True)
    assert w.find(1, ERR, ROWS) == 3
    w.set_cursor(3)
    assert w.find(-1, ERR, ROWS) == 0


def test_find_does_not_wrap_around_at_the_ends_of_the_result() -> None:
    w = with_messages(["error a", "ok", "error b", "ok"], at_top=True, at_bottom=True)
    w.set_cursor(2)
    assert w.find(1, ERR, ROWS) == "no more"
    w.set_cursor(0)
    assert w.find(-1, ERR, ROWS) == "no more"


def test_find_reads_on_past_the_window_once() -> None:
    w = with_messages(["error a", "ok", "ok"], at_top=True, at_bottom=False)
    req = w.find(1, ERR, ROWS)
    assert isinstance(req, FindMatch)
    assert (req.step, req.edge_id, req.scan, req.highlight) == (1, 2, FIND_SCAN, ("error",))
    assert w.find(1, ERR, ROWS) is None  # already looking
    w.find_done()
    assert isinstance(w.find(1, ERR, ROWS), FindMatch)


def test_find_without_a_cursor_does_nothing() -> None:
    w = LogWindow()
    assert w.find(1, ERR, ROWS) is None


def test_a_found_match_replaces_the_window_around_it() -> None:
    w = with_messages(["ok"] * 5, at_top=True, at_bottom=False)
    req = w.find(1, ERR, ROWS)
    assert isinstance(req, FindMatch)
    found = Window(lines(500, 520), False, False, ("error",), {}, anchor_id=510)
    assert w.current(req.generation)
    assert w.apply_window(found) == "anchor" and w.cursor_id == 510


def test_requests_carry_the_query() -> None:
    w = LogWindow()
    req = w.set_query(ParsedQuery.of("level=error"), ROWS)
    assert isinstance(req, LoadWindow) and req.query.typed == "level=error"
