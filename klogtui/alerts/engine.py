"""The alert engine: rules evaluated after every commit, state kept in the store.

One thread per collecting process (`klogtui collect` and the app alike). It follows
the commit log: the lines each commit stored are matched against every rule
(matcher.py) and counted into the rule's window (window.py); then each rule's state
moves (state.py), changes are written to the store (state_table.py) and handed to
Alertmanager (alertmanager.py). A one-second tick lets windows empty and `for`
periods pass without commits. At start-up each window is counted again from the
store (only the window, never the history) and the stored states are taken up: a
firing alert goes on firing with its first startsAt, a resolved one stays resolved.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from klogtui.alerts.alertmanager import Alertmanager, Outgoing
from klogtui.alerts.matcher import (
    ALL_LINES,
    Counted,
    RuleMatcher,
    group_lines,
    load_sources,
    sources_signature,
)
from klogtui.alerts.rules import Rule, RuleSet, load_rules
from klogtui.alerts.state import AlertState, advance
from klogtui.alerts.state_table import delete_states, read_states, write_states
from klogtui.alerts.window import Window
from klogtui.errors import KlogError, QueryError
from klogtui.store import commit_log, text_keys
from klogtui.store.ids import id_for_ts
from klogtui.store.schema import connect
from klogtui.store.text_codec import MESSAGE

__all__ = ["AlertEngine", "generator_url"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_TICK_S = 1.0
# Between two evaluations the engine waits 200 times the CPU time the last one took
# (within these bounds): it takes at most about 0.5% of a core, a lone commit after a
# quiet spell is evaluated within a few tenths of a second, and under a steady
# stream the commits of up to a second are read as one (each evaluation runs every
# rule's query once).
_GAP_PER_CPU_S = 200
_GAP_BOUNDS_S = (0.05, 1.0)
_TOP_ID = (1 << 63) - 1
_GROUP_ALL_LINES_FROM = 16  # distinct field-only rules (measured break-even: ~15)
_RECOMPILE_NS = 30 * _NS  # pod labels change without a new source
_COMMITS_PER_READ = 512
_SAMPLE_CHARS = 500


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    """commit_log.runs of ascending ids, without a walk through them when the first
    and the last are close enough to make one run (the usual commit)."""
    ends = commit_log.runs((ids[0], ids[-1]))
    return ends if len(ends) == 1 else commit_log.runs(ids)


def _max_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(id) FROM lines").fetchone()
    return int(row[0] or 0)


def _stamp(path: Path | None) -> tuple[int, int]:
    """(mtime, size) of the config file; (0, 0) when there is none."""
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size) if st is not None else (0, 0)


def generator_url(query: str, at_ns: int) -> str:
    """Where an alert comes from: the query and the time it fired, as a klogtui URL."""
    return "klogtui:///query?" + urllib.parse.urlencode({"q": query, "at": at_ns})


class AlertEngine:
    """Evaluates `ruleset` against the store at `path` on a thread of its own.

    Args:
        path: the store (the caller collects into it).
        ruleset: the rules and where to send alerts (no Alertmanager: state only).
        on_error: told (where, message) about bad rules and failed deliveries.
        clock: UTC ns.
    """

    def __init__(
        self,
        path: Path,
        ruleset: RuleSet,
        on_error: Callable[[str, str], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._path = path
        self._on_error = on_error
        self._clock = clock
        self._rules: list[Rule] = []
        self._matchers: dict[str, RuleMatcher] = {}
        self._windows: dict[str, Window] = {}
        self._states: dict[str, AlertState] = {}
        self._use(ruleset.rules)
        self._config = ruleset.path
        self._config_stamp = _stamp(ruleset.path)
        self._gone: set[str] = set()  # rules no longer configured, resolve unsent
        self._seq = 0
        self._high = 0  # the highest line id counted (ids above it are all new)
        self._started_ns = 0
        self._signature: tuple[int, int] = (-1, -1)
        self._compiled_ns = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._accepted: list[str] = []  # resolves Alertmanager accepted, to store
        self._accepted_lock = threading.Lock()
        self.evaluations = 0
        self.ready = threading.Event()  # set once the stored state is taken up
        self._am: Alertmanager | None = None
        if ruleset.alertmanager:
            self._am = Alertmanager(
                ruleset.alertmanager, ruleset.resend_ns, on_error, self._resolve_accepted, clock
            )
        self._thread = threading.Thread(target=self._run, name="klogtui-alerts", daemon=True)

    def start(self) -> None:
        if self._am is not None:
            self._am.start()
        self._thread.start()

    @property
    def evaluated_seq(self) -> int:
        """The newest commit (commit-log seq) whose lines have been evaluated."""
        return self._seq

    def wake(self) -> None:
        """A commit happened (called on the writer's thread: returns at once)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Evaluate what was committed last, store the state, try a last delivery."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._am is not None:
            self._am.stop(min(timeout, 5.0))

    # -- the engine's thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = connect(self._path)
        except Exception as e:  # noqa: BLE001 - said once; collecting goes on
            self._on_error("alerts", f"alert evaluation cannot open the store: {e}")
            self.ready.set()
            return
        try:
            self._take_up(conn)
            self.ready.set()
            while True:
                stopping = self._stopping.is_set()
                cpu = time.thread_time()
                self._guarded_step(conn)
                gap = min(
                    max(_GAP_PER_CPU_S * (time.thread_time() - cpu), _GAP_BOUNDS_S[0]),
                    _GAP_BOUNDS_S[1],
                )
                next_at = time.monotonic() + gap
                if stopping:
                    return
                self._wake.wait(_TICK_S)
                self._wake.clear()
                self._stopping.wait(max(0.0, next_at - time.monotonic()))
        except Exception as e:  # noqa: BLE001 - a bug must not stop collecting
            log.exception("alert evaluation stopped")
            self._on_error("alerts", f"alert evaluation stopped: {e!r}")
        finally:
            self.ready.set()
            conn.close()

    def _use(self, rules: tuple[Rule, ...]) -> None:
        self._rules = list(rules)
        self._matchers = {r.name: RuleMatcher(r.query) for r in rules}
        self._windows = {r.name: Window(r.window_ns) for r in rules}
        self._states = {}
        self._signature = (-1, -1)

    def _reload_if_changed(self, conn: sqlite3.Connection) -> None:
        """Rules added or changed in the config file (the app's rule form, an editor)
        apply at once: windows are counted again and states taken up, as at a start."""
        stamp = _stamp(self._config)
        if self._config is None or stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            ruleset = load_rules(self._config)
        except KlogError as e:
            self._on_error("alerts", f"{e}; the rules in use stay")
            return
        for problem in ruleset.problems:
            self._on_error("alerts", f"{problem.one_line()}; rule skipped")
        if tuple(self._rules) == ruleset.rules:
            return
        self._use(ruleset.rules)
        self._take_up(conn)
        log.info("alert rules reloaded from %s: %d rules", self._config, len(self._rules))

    def _guarded_step(self, conn: sqlite3.Connection) -> None:
        try:
            self._reload_if_changed(conn)
            self._step(conn)
            self.evaluations += 1
        except sqlite3.Error as e:  # the store busy or full: the next tick tries again
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._on_error("alerts", f"alert evaluation: {e}; retrying")

    def _take_up(self, conn: sqlite3.Connection) -> None:
        now = self._clock()
        stored = read_states(conn)
        conn.execute("BEGIN")  # one snapshot: the windows and the commit log agree
        try:
            self._seq = commit_log.last_seq(conn)
            self._compile(conn, now)
            self._high = _max_id(conn)
            for rule in self._rules:
                window = self._windows[rule.name]
                lo = id_for_ts(now - rule.window_ns)
                for c in self._matchers[rule.name].count(conn, lo, _TOP_ID):
                    window.add(*c, now)
        finally:
            conn.execute("COMMIT")
        self._started_ns = now
        outgoing: list[Outgoing] = []
        for rule in self._rules:
            state = stored.pop(rule.name, None) or AlertState(rule.name)
            self._states[rule.name] = state
            if state.phase == "firing" or not state.resolve_sent:
                outgoing.append(self._outgoing(state))
        # Rules taken out of the file: a firing alert is resolved, then forgotten.
        changed: list[AlertState] = []
        for name, state in stored.items():
            if state.phase == "firing":
                state.phase = "inactive"
                state.resolved_at = now
                state.resolve_sent = False
                changed.append(state)
            if state.resolve_sent or self._am is None:
                delete_states(conn, [name])
            else:
                self._gone.add(name)
                outgoing.append(self._outgoing(state))
        write_states(conn, changed)
        if self._am is not None:
            self._am.update(outgoing)

    def _compile(self, conn: sqlite3.Connection, now: int) -> None:
        """Compile every rule against the sources (again when they changed)."""
        signature = sources_signature(conn)
        if signature == self._signature and now - self._compiled_ns < _RECOMPILE_NS:
            return
        sources = load_sources(conn)
        keys = text_keys.of(conn)
        for rule in list(self._rules):
            try:
                self._matchers[rule.name].compile(sources, now, keys)
            except QueryError as e:
                self._on_error("alerts", f"alert {rule.name!r}: {e.message}; rule skipped")
                self._rules.remove(rule)
        self._signature = signature
        self._compiled_ns = now

    def _step(self, conn: sqlite3.Connection) -> None:
        self._store_accepted(conn)
        if not self._rules:  # waiting for rules to be added to the config file
            self._seq = commit_log.last_seq(conn)
            return
        now = self._clock()
        self._compile(conn, now)
        conn.execute("BEGIN")  # one snapshot: no commit read twice or half
        try:
            while self._count_commits(conn, now):
                pass
        finally:
            conn.execute("COMMIT")
        self._evaluate(conn, now)

    def _count_commits(self, conn: sqlite3.Connection, now: int) -> bool:
        """Count the matches of the next commits into the windows; False when done."""
        logged = commit_log.read_after(conn, self._seq, _COMMITS_PER_READ)
        if not logged:
            return False
        if logged[0][0] > self._seq + 1:
            self._on_error(
                "alerts",
                f"alert evaluation fell behind: {logged[0][0] - self._seq - 1} commits "
                "were not evaluated",
            )
        # Each commit's ids ascend; its runs' ends, sorted, give the runs of them all
        # (an end lies within a gap of the other end of its run).
        ends = sorted(i for _, chunk in logged for run in _runs(chunk) for i in run)
        high = self._high
        # Above every id counted so far a range holds only these commits' lines and
        # SQLite counts it; below, it may hold older lines too: filter by id.
        mixed: list[tuple[int, int]] = []
        fresh: list[tuple[int, int]] = []
        for lo, hi in commit_log.runs(ends):
            if lo > high:
                fresh.append((lo, hi))
            elif hi <= high:
                mixed.append((lo, hi))
            else:
                mixed.append((lo, high))
                fresh.append((high + 1, hi))
        wanted = {i for _, chunk in logged for i in chunk} if mixed else set()
        grouped = self._grouped_texts() if fresh else set()
        if grouped:
            group_lines(conn, fresh, grouped)
        counted: dict[tuple[str, tuple[object, ...]], list[Counted]] = {}
        for rule in self._rules:
            matcher = self._matchers[rule.name]
            by_groups = matcher.group_text in grouped
            found = counted.get(key := matcher.key(by_groups))
            if found is None:  # rules on the same query (a warning and a critical) share it
                if by_groups:
                    found = matcher.count_grouped(conn)
                else:
                    found = [c for lo, hi in fresh for c in matcher.count(conn, lo, hi)]
                found += [c for lo, hi in mixed for c in matcher.count_among(conn, lo, hi, wanted)]
                counted[key] = found
            window = self._windows[rule.name]
            for c in found:
                window.add(*c, now)
        self._seq = logged[-1][0]
        self._high = max(high, ends[-1])
        return len(logged) == _COMMITS_PER_READ

    def _grouped_texts(self) -> set[str]:
        """The texts whose matches are worth grouping once this pass: shared by at least
        two rules (by enough rules, for every line: grouping them costs ~15 queries)."""
        rules_per_text: dict[str, set[str]] = {}
        for matcher in self._matchers.values():
            if matcher.group_text is not None:
                rules_per_text.setdefault(matcher.group_text, set()).add(matcher.query)
        return {
            text
            for text, queries in rules_per_text.items()
            if len(queries) >= (_GROUP_ALL_LINES_FROM if text == ALL_LINES else 2)
        }

    def _evaluate(self, conn: sqlite3.Connection, now: int) -> None:
        changed: list[AlertState] = []
        outgoing: list[Outgoing] = []
        for rule in self._rules:
            window = self._windows[rule.name]
            count = window.count(now)
            holds: bool | None
            if rule.condition == "above":
                holds = count > rule.threshold
            elif count:
                holds = False
            else:
                # Nothing in the window proves absence only once we watched a window.
                holds = True if now - self._started_ns >= rule.window_ns else None
            state = self._states[rule.name]
            what = advance(state, holds, rule.for_ns, now)
            if what is None:
                continue
            if what == "fired":
                self._describe(conn, state, rule, window, count)
            changed.append(state)
            if what in ("fired", "resolved"):
                outgoing.append(self._outgoing(state))
        # Stored before it is sent: a crash between the two sends it on the next start.
        write_states(conn, changed)
        if self._am is not None:
            self._am.update(outgoing)

    def _describe(
        self, conn: sqlite3.Connection, state: AlertState, rule: Rule, window: Window, n: int
    ) -> None:
        """Labels and annotations of an alert that just fired."""
        labels = {"alertname": rule.name, "severity": rule.severity}
        annotations = {"query": rule.query}
        state.query = rule.query
        state.line_id = 0
        if rule.condition == "above" and window.newest_id:
            state.line_id = window.newest_id
            row = conn.execute(
                f"SELECT s.namespace, s.pod, {MESSAGE} FROM lines l JOIN sources s "
                "ON s.id = l.source_id WHERE l.id = ?",
                (window.newest_id,),
            ).fetchone()
            if row is not None:
                labels["namespace"], labels["pod"] = row[0], row[1]
                annotations["sample"] = row[2][:_SAMPLE_CHARS]
            annotations["summary"] = (
                f"{n} lines matched in the last {rule.describe().split(' in ', 1)[1]}"
            )
        else:
            annotations["summary"] = f"no line matched in {rule.describe().split(' in ', 1)[1]}"
        labels.update(rule.labels)
        annotations.update(rule.annotations)
        state.labels = labels
        state.annotations = annotations

    def _outgoing(self, state: AlertState) -> Outgoing:
        ends = None if state.phase == "firing" else state.resolved_at
        return Outgoing(
            state.rule,
            state.labels or {"alertname": state.rule},
            state.annotations,
            state.fired_at,
            ends,
            generator_url(state.query, state.fired_at),
        )

    def _resolve_accepted(self, rules: list[str]) -> None:
        """On the sender's thread: note resolves to store on the engine's thread."""
        with self._accepted_lock:
            self._accepted.extend(rules)
        self._wake.set()

    def _store_accepted(self, conn: sqlite3.Connection) -> None:
        with self._accepted_lock:
            accepted, self._accepted = self._accepted, []
        changed: list[AlertState] = []
        for name in set(accepted):
            state = self._states.get(name)
            if state is not None and state.phase != "firing" and not state.resolve_sent:
                state.resolve_sent = True
                changed.append(state)
        write_states(conn, changed)
        gone = [n for n in set(accepted) if n in self._gone]
        delete_states(conn, gone)
        self._gone.difference_update(gone)
