"""Reading one container instance's log through the API, turn by turn.

An `InstanceStream` is a scheduler task. Each turn it looks at the pod's latest status
(`plan_for`), opens the log request that returns its instance (current log, following
or not, or `previous=true`), resumes at its checkpoint with `sinceTime`, hands the
lines it reads to the batcher with the new checkpoint, and says when it wants its next
turn: at once after a yield, after a backoff with jitter after a failure, never once
the instance's log was read to its end.

While containers take turns (the scheduler's `may_follow` says no), a turn reads what
is there and ends, and the next comes after `poll_active_s` (`poll_quiet_s` for a
container that wrote nothing lately). A follow that stays silent well past the
container's usual pace is reconnected at once: kubelets before 1.29 stop sending at a
log rotation without closing the stream. A pod's node whose kubelet does not answer
makes its containers wait (nodes.py) instead of holding slots.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import urllib3

from klogtui.collect.backoff import Backoff
from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.api import (
    KubeApi,
    KubeConnError,
    KubeHTTPError,
    Response,
    body_chunks,
)
from klogtui.collect.kube.batcher import Batcher
from klogtui.collect.kube.errors import describe_conn, describe_http
from klogtui.collect.kube.events import EventTicker, InstanceEvents
from klogtui.collect.kube.lines import LineSplitter, ReplayFilter, ResumePoint, to_records
from klogtui.collect.kube.nodes import NodeHealth, kubelet_unreachable
from klogtui.collect.kube.rate import RateMeter
from klogtui.collect.kube.status import ContainerView, Plan, plan_for
from klogtui.model import Flag, Record, SourceKey

__all__ = ["InstanceStream", "StreamTimings", "checkpoint_key"]

_INITIAL_TRIES = 3  # failed first reads after which an instance stops holding up caught_up


def checkpoint_key(key: SourceKey) -> str:
    """The checkpoint key of a container instance: kube:<uid>:<container>:<restart>."""
    return f"kube:{key.pod_uid}:{key.container}:{key.restart}"


@dataclass(frozen=True, slots=True)
class StreamTimings:
    """Timeouts and delays of log streams (short in tests, generous in real use).

    Attributes:
        read_timeout_s: a stream silent this long is reconnected (catches dead TCP).
        backoff_base_s: first reconnect delay; doubles per failure, with jitter.
        backoff_max_s: the longest reconnect delay.
        eof_grace_s: after a follow stream ends cleanly, how long to wait for the pod
            status to say why (the container stopped) before following again.
        max_line_bytes: longest line kept whole; longer ones are truncated.
        poll_active_s: while taking turns, the pause between two reads of a container
            that wrote lately.
        poll_quiet_s: the same for a container that wrote nothing lately.
        stall_min_s: the shortest silence after which a follow of a container that
            was writing is reconnected (longer for slower writers: 10 lines' worth).
        node_backoff_s: how long a node whose kubelet does not answer is left alone at
            first; doubles while it stays down.
        node_backoff_max_s: the longest such wait.
    """

    read_timeout_s: float = 300.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    eof_grace_s: float = 5.0
    max_line_bytes: int = 1 << 20
    poll_active_s: float = 2.0
    poll_quiet_s: float = 10.0
    stall_min_s: float = 5.0
    node_backoff_s: float = 30.0
    node_backoff_max_s: float = 300.0


class _Outcome:
    EOF, ERROR, INTERRUPTED = "eof", "error", "interrupted"


_STALL_LINES = 10  # a follow silent for this many lines' worth of time is suspect
_RATE_TAU_S = 30.0


class InstanceStream:
    """Reads one container instance's log until it ends (a scheduler task).

    Args:
        key: the instance.
        point: where its log was stored up to (from the checkpoint, or fresh).
        lookup: the container's latest status (None once the pod is gone).
        api: the API layer.
        batcher: where lines and checkpoints go.
        stats: error reporting.
        timings: timeouts and delays.
        since_s: how far back to start when there is no checkpoint.
        initial_read: read what exists first (non-following) and tell `on_initial`.
        on_initial: called once the initial read is over (or given up).
        on_finished: called once the instance is finished (read to its end, or gone).
        on_open: told +1 when a request of ours opens, -1 when it closes.
        stopping: set when the collector stops.
        node: the node the pod runs on.
        nodes: which nodes are down.
        may_follow: whether this task may keep a follow request open (the scheduler).
    """

    def __init__(
        self,
        key: SourceKey,
        point: ResumePoint,
        lookup: Callable[[], ContainerView | None],
        api: KubeApi,
        batcher: Batcher,
        stats: CollectorStats,
        timings: StreamTimings,
        since_s: int,
        initial_read: bool,
        on_initial: Callable[[InstanceStream], None],
        on_finished: Callable[[InstanceStream], None],
        on_open: Callable[[int], None],
        stopping: threading.Event,
        ticker: EventTicker,
        node: str,
        nodes: NodeHealth,
        may_follow: Callable[[InstanceStream], bool],
    ) -> None:
        self.key = key
        self.name = f"{key.namespace}/{key.pod}/{key.container}#{key.restart}"
        self.ckpt_key = checkpoint_key(key)
        self.point = point
        # Lines are joined into events there; the point counts only those handed over.
        self._events = InstanceEvents(key, self.ckpt_key, point, batcher)
        self._ticker = ticker
        ticker.watch(self._events)
        self._lookup = lookup
        self._api = api
        self._batcher = batcher
        self._stats = stats
        self._t = timings
        self._since_s = since_s
        self._initial = initial_read
        self._initial_failures = 0
        self._on_initial = on_initial
        self._on_finished = on_finished
        self._on_open = on_open
        self._stopping = stopping
        self._lock = threading.Lock()
        self._resp: Response | None = None
        self._interrupted = False
        self._backoff = Backoff(timings.backoff_base_s, timings.backoff_max_s)
        self._eof_view: ContainerView | None = None  # status when a follow ended cleanly
        self._eof_deadline = 0.0
        self.finished = False
        self.node = node
        self._nodes = nodes
        self._may_follow = may_follow
        self.urgent = False  # its pod is terminating: its last lines are about to go
        self._meter = RateMeter(_RATE_TAU_S)
        self._stalls = 0  # silent follows in a row that were reconnected
        self._following_since = 0.0  # monotonic time of the last byte of an open follow
        self._stall_suspected = False

    def rank(self) -> float:
        """Its claim to a slot of its own: bytes/s written lately; inf when urgent."""
        return math.inf if self.urgent else self._meter.bytes_per_s()

    # -- scheduler interface ----------------------------------------------------------

    def interrupt(self) -> None:
        """End the current request soon (the scheduler's slice is over, or we stop)."""
        with self._lock:
            self._interrupted = True
            resp = self._resp
            if resp is not None:
                try:
                    # Unblocks a read waiting on a silent stream at once.
                    resp.shutdown()
                except (ValueError, RuntimeError, OSError):
                    pass

    def run(self) -> float | None:
        """One turn: at most one request. Returns the delay before the next, or None."""
        with self._lock:
            self._interrupted = False
        if self._stopping.is_set():
            return None
        view = self._lookup()
        plan = plan_for(self.key.restart, view)
        if plan is Plan.GONE:
            if view is not None and not self.point.done:
                self._stats.error(
                    self.name,
                    "this instance ended and was replaced before its "
                    "log was read to the end; the API no longer serves it",
                )
            self._finish()
            return None
        if plan is Plan.WAIT:
            # Nothing to read yet; the registry wakes us when the pod's status changes.
            self._initial_over()
            return None
        if self._eof_view is not None:
            if view == self._eof_view and time.monotonic() < self._eof_deadline:
                return self._eof_deadline - time.monotonic()
            self._eof_view = None
        wait = self._nodes.wait_s(self.node)
        if wait > 0:
            # The node is down: someone else tries it, or later. A known outage does
            # not hold up catching up.
            self._initial_over()
            return wait
        follow = plan is Plan.FOLLOW and not self._initial and self._may_follow(self)
        return self._request(plan, view, follow)

    # -- one request --------------------------------------------------------------------

    def _query(self, plan: Plan, follow: bool) -> list[tuple[str, str]]:
        q = [("container", self.key.container), ("timestamps", "true")]
        if follow:
            q.append(("follow", "true"))
        if plan is Plan.PREVIOUS:
            q.append(("previous", "true"))
        since = self.point.since_time()
        if since is not None:
            q.append(("sinceTime", since))
        elif self._since_s > 0:
            q.append(("sinceSeconds", str(self._since_s)))
        return q

    def _request(self, plan: Plan, view: ContainerView | None, follow: bool) -> float | None:
        key = self.key
        path = f"/api/v1/namespaces/{key.namespace}/pods/{key.pod}/log"
        where = f"{key.namespace}/{key.pod}/{key.container}"
        started = time.monotonic()
        # The answer starts at the point, which does not count an open event's lines:
        # they come again.
        self._events.drop_open()
        try:
            resp = self._api.open(path, self._query(plan, follow), self._t.read_timeout_s)
        except KubeHTTPError as e:
            if kubelet_unreachable(e.status, e.message):
                self._initial_over()  # a dead node does not hold up catching up
                took = time.monotonic() - started
                return max(self._nodes.failed(self.node, took, e.message), self._failed())
            self._nodes.answered(self.node)
            return self._failed_request(e, where)
        except KubeConnError as e:
            self._stats.error(where, describe_conn(str(e), self._api.target))
            return self._failed()
        self._nodes.answered(self.node)
        with self._lock:
            if self._interrupted:
                resp.close()
                resp.release_conn()
                return self._after_interrupt()
            self._resp = resp
        self._on_open(1)
        self._stall_suspected = False
        if follow:
            self._following_since = time.monotonic()
        try:
            # Only a read to the end of an ended instance keeps an unfinished last line.
            outcome, got = self._read(resp, where, ended=plan is not Plan.FOLLOW)
        finally:
            with self._lock:
                self._resp = None
                self._following_since = 0.0
            self._on_open(-1)
        if got or time.monotonic() - started > 10 * self._t.backoff_base_s:
            self._backoff.reset()
        if got:
            self._stalls = 0
        if outcome == _Outcome.INTERRUPTED:
            if self._stall_suspected:
                self._stalls += 1  # if it merely went quiet, the next wait is longer
            return self._after_interrupt()
        if outcome == _Outcome.ERROR:
            # A silent stream ran into the read timeout, or the connection broke. A
            # turn that lasted reset the failure count above: its retry comes quickly.
            return self._failed()
        self._stats.forget_errors(where)
        if self._initial:
            self._initial = False
            self._events.flush()  # what the log held when we came is stored whole
            self._on_initial(self)
            if plan is Plan.FOLLOW:
                return 0.0
        if plan is Plan.FOLLOW and not follow:
            # Taking turns: this turn read what was there; the next comes soon.
            active = self._meter.lines_per_s() > 0 or self.urgent
            return self._t.poll_active_s if active else self._t.poll_quiet_s
        if plan is Plan.FOLLOW:
            # A follow ends cleanly when the container stops (or an idle timeout hits).
            # Wait for the status to tell which before asking again: asking too early
            # could return the next instance's log under this instance's name.
            self._eof_view = view
            self._eof_deadline = time.monotonic() + self._t.eof_grace_s
            return self._t.eof_grace_s
        self._finish()
        return None

    def _read(self, resp: Response, where: str, ended: bool) -> tuple[str, bool]:
        splitter = LineSplitter(self._t.max_line_bytes)
        replay = ReplayFilter(self.point)
        key, point, add = self.key, self.point, self._events.add
        got = False
        outcome = _Outcome.EOF
        try:
            for chunk in body_chunks(resp):
                lines = splitter.feed(chunk)
                if self._following_since:
                    self._following_since = time.monotonic()
                if lines:
                    now_ns = time.time_ns()
                    identities: list[int] = []
                    records = to_records(lines, key, point, replay, now_ns, 0, identities)
                    if records:
                        got = True
                        self._measure(records, now_ns)
                        add(records, identities)
                if self._interrupted:
                    outcome = _Outcome.INTERRUPTED
                    break
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            if self._interrupted:
                outcome = _Outcome.INTERRUPTED
            else:
                outcome = _Outcome.ERROR
                if not isinstance(e, urllib3.exceptions.ReadTimeoutError):
                    self._stats.error(where, f"log stream broke, reconnecting: {type(e).__name__}")
        finally:
            if outcome == _Outcome.EOF and not self._interrupted:
                resp.release_conn()
            else:
                resp.close()
                resp.release_conn()
        if outcome == _Outcome.EOF and self._interrupted:
            outcome = _Outcome.INTERRUPTED
        if outcome != _Outcome.EOF:
            self._events.await_resend()  # the next request sends the open event again
        if outcome == _Outcome.EOF and splitter.pending:
            if ended:
                # The container died mid-line: that fragment is all there will be.
                identities = []
                records = to_records(
                    [splitter.take()],
                    key,
                    point,
                    replay,
                    time.time_ns(),
                    Flag.UNTERMINATED,
                    identities,
                )
                if records:
                    got = True
                    add(records, identities)
            # Otherwise the rest of the line may still come: the next request, resumed
            # at or before its timestamp, sends it whole.
        return outcome, got

    def _measure(self, records: list[Record], now_ns: int) -> None:
        horizon = now_ns - int(_RATE_TAU_S * 1e9)
        fresh = [r for r in records if r.ts >= horizon]
        if fresh:
            self._meter.add(len(fresh), sum(len(r.message) for r in fresh))

    def stalled(self, now: float) -> bool:
        """True if an open follow has been silent far longer than this container's pace
        (the scheduler then interrupts it, and it asks again at once).

        Kubelets before 1.29 stop sending at a log rotation without ending the stream;
        only the read timeout would notice, minutes later.
        """
        since = self._following_since
        rate = self._meter.lines_per_s()
        if not since or rate <= 0:
            return False
        window = max(self._t.stall_min_s, _STALL_LINES / rate) * 2.0 ** min(self._stalls, 10)
        if now - since < min(window, self._t.read_timeout_s):
            return False
        self._stall_suspected = True
        return True

    # -- outcomes -------------------------------------------------------------------------

    def _after_interrupt(self) -> float | None:
        return None if self._stopping.is_set() else 0.0

    def _failed_request(self, e: KubeHTTPError, where: str) -> float | None:
        if e.status in (401, 403):
            action = f"get pods/log of {self.key.pod}"
            self._stats.error(where, describe_http(e, action, self.key.namespace, self._api.target))
            self._backoff.at_least(4)  # RBAC is not fixed in a second
        elif e.status == 404 and self._lookup() is None:
            self._finish()
            return None
        elif e.status != 400:
            # 400 is the kubelet saying the container is not where the status we
            # acted on said (waiting, or no previous instance): re-plan after a pause.
            self._stats.error(where, f"log request failed: {e}")
        return self._failed()

    def _failed(self) -> float:
        if self._initial:
            self._initial_failures += 1
            if self._initial_failures >= _INITIAL_TRIES:
                self._initial_over()
        delay = self._backoff.failed()
        # A terminating pod's log is gone soon: no long pauses.
        return min(delay, self._t.backoff_base_s) if self.urgent else delay

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._events.flush()  # the log is over: its last event is whole
        self._ticker.forget(self._events)
        self.point.done = True
        self._batcher.add([], (self.ckpt_key, self.point.to_json()))
        self._initial_over()
        self._on_finished(self)

    def _initial_over(self) -> None:
        """The initial read is over (done, or given up): stop holding up caught_up."""
        if self._initial:
            self._initial = False
            self._on_initial(self)
