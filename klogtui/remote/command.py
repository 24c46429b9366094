"""`klogtui query --collectors`: one query on every node's collector through the pod
proxy, printed as one timeline, with the nodes that did not answer named on stderr.

Exit status 3 says the result is partial (some node's lines are missing); a node is
never left out in silence.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from klogtui.collect.kube.api import KubeApi, KubeConnError, KubeHTTPError
from klogtui.collect.kube.connect import connect
from klogtui.errors import KlogError
from klogtui.model import Level
from klogtui.query.parsed import ParsedQuery
from klogtui.remote.collectors import SELECTOR, Collector, Found, find_collectors
from klogtui.remote.fanout import MAX_PARALLEL, FanOut, NodeDown
from klogtui.remote.query_text import node_query_text
from klogtui.remote.timeline import LEVELS, NodeLine, merged, node_lines, read_after, read_newest
from klogtui.text import text_line

__all__ = ["PARTIAL_EXIT", "open_collectors", "run_remote_query"]

PARTIAL_EXIT = 3
_CONNECT_TIMEOUT_S = 10.0
_RETRY_S = 2.0


def open_collectors(args: argparse.Namespace) -> tuple[FanOut, Found]:
    """Connect as the kubeconfig says and find the collector pods.

    Raises:
        KlogError: no API server, not allowed to list the pods, no collectors.
    """
    api = connect(
        args.kubeconfig or None,
        args.context,
        False,
        pool_size=MAX_PARALLEL + 2,
        connect_timeout=_CONNECT_TIMEOUT_S,
    )
    fan = FanOut(api)
    fan.token_headers()  # no token: said once, before anything is asked
    namespace = args.collectors_namespace
    found = _find(api, namespace)
    if not found.ready and not found.missing:
        raise KlogError(
            f"no collector pods in namespace {namespace!r} (label {SELECTOR}): is deploy/ "
            "applied there? (--collectors-namespace names another namespace)"
        )
    return fan, found


def _find(api: KubeApi, namespace: str) -> Found:
    try:
        return find_collectors(api, namespace)
    except KubeConnError as e:
        raise KlogError(f"cannot reach the API server at {api.target.host}: {e}") from e
    except KubeHTTPError as e:
        if e.status == 403:
            raise KlogError(
                f"you may not list the collector pods ({e.message}): reading them needs "
                f"`list` on pods and `get` on pods/proxy in namespace {namespace!r}: the "
                "Role klogtui-reader in deploy/ grants it"
            ) from e
        if e.status == 401:
            raise KlogError(
                f"the API server at {api.target.host} did not accept your credentials "
                f"({e.message or e.reason}): log in again (e.g. `kubectl get pods`) and retry"
            ) from e
        raise KlogError(f"listing the collector pods failed: {e}") from e


def tell_missing(missing: list[tuple[str, str]], out: TextIO = sys.stderr) -> None:
    for name, why in missing:
        print(
            f"klogtui: partial result: the collector on {name} did not answer ({why}); "
            "its lines are missing",
            file=out,
        )


class _Output:
    def __init__(self, args: argparse.Namespace) -> None:
        self.out = sys.stdout
        terminal = self.out.isatty()
        self.jsonl = args.output == "jsonl"
        self.color = args.color == "always" or (
            args.color == "auto" and terminal and os.environ.get("NO_COLOR") is None
        )
        self.terminal = terminal or self.color

    def write(self, lines: list[NodeLine]) -> None:
        for ln in lines:
            self.out.write(self.jsonl_or_text(ln))
            self.out.write("\n")
        self.out.flush()

    def jsonl_or_text(self, ln: NodeLine) -> str:
        if self.jsonl:
            return ln.jsonl()
        o = ln.obj
        name = f"{o['namespace']}/{o['pod']}/{o['container']}"
        level = LEVELS.get(str(o.get("level")), Level.UNKNOWN)
        return text_line(str(o["ts"]), name, level, str(o["message"]), self.color, self.terminal)


def run_remote_query(args: argparse.Namespace) -> int:
    """Run `klogtui query --collectors`; returns the exit code."""
    query = ParsedQuery.of(args.query)  # a bad query is told before any request
    text = node_query_text(query, time.time_ns())  # one `now` and zone for every node
    fan, found = open_collectors(args)
    try:
        printer = _Output(args)
        tails = _Tails(fan, text) if args.follow else None
        if tails is not None:
            tails.start(found.ready)
        read = _reader(fan, found.ready, text, args.limit)
        got, down = fan.each(found.ready, read)
        if down:  # a node restarting, a proxy hiccup: asked once more before it counts
            time.sleep(_RETRY_S)
            again, down = fan.each([c for c, _ in down], read)
            got += again
        missing = found.missing + [(e.name, e.reason) for _, e in down]
        lines = merged([lines for _, lines in got], args.limit)
        tell_missing(missing)
        printer.write(lines)
        if tails is None:
            return PARTIAL_EXIT if missing else 0
        tails.follow(printer, lines)
    except KeyboardInterrupt:
        return 0
    finally:
        fan.close()
    return 0


def _reader(
    fan: FanOut, collectors: list[Collector], query: str, limit: int
) -> Callable[[Collector], list[NodeLine]]:
    index = {c: i for i, c in enumerate(collectors)}

    def read(c: Collector) -> list[NodeLine]:
        if limit == 0:
            return read_after(fan, index[c], c, query, 0)
        return read_newest(fan, index[c], c, query, limit)

    return read


class _Tails:
    """Every node's /tail, merged as the lines arrive. A node whose tail breaks is named
    on stderr and asked again every few seconds; once back, the lines it stored after
    the last one seen from it are read first, so the seam loses nothing."""

    def __init__(self, fan: FanOut, query: str) -> None:
        self.fan = fan
        self.query = query
        # (line, whether a tail brought it, not a snapshot or a catch-up read)
        self.arrived: queue.Queue[tuple[NodeLine, bool]] = queue.Queue()
        self._opened = threading.Semaphore(0)
        self._newest: dict[int, int] = {}  # node -> newest cursor seen from it
        self._lock = threading.Lock()

    def start(self, collectors: list[Collector]) -> None:
        """Open every tail; returns once each is open (or failed), so a snapshot read
        after this misses nothing the tails do not bring."""
        for i, c in enumerate(collectors):
            threading.Thread(
                target=self._run, args=(i, c), name=f"klogtui-tail-{c.pod}", daemon=True
            ).start()
        for _ in collectors:
            self._opened.acquire()

    def _seen(self, ln: NodeLine) -> None:
        with self._lock:
            self._newest[ln.node] = max(self._newest.get(ln.node, -1), ln.cursor)

    def _run(self, node: int, c: Collector) -> None:
        opened = False
        down = False  # told that it stopped answering, not yet that it is back
        while True:
            try:
                lines = self.fan.stream(c, "/api/v1/tail", [("q", self.query)])
                if down:
                    down = False
                    print(f"klogtui: the collector on {c.name} answers again", file=sys.stderr)
                with self._lock:
                    after = self._newest.get(node)
                if opened and after is not None:  # back after a break: what it missed
                    for ln in read_after(self.fan, node, c, self.query, after):
                        self.arrived.put((ln, False))
                if not opened:
                    opened = True
                    self._opened.release()
                for raw in lines:
                    for ln in node_lines(node, c, raw):
                        self.arrived.put((ln, True))
            except NodeDown as e:
                if not down:  # said once per outage
                    down = True
                    print(
                        f"klogtui: the collector on {e.name} stopped answering ({e.reason}); "
                        "its new lines are missing until it answers again (asked every "
                        f"{_RETRY_S:g} s)",
                        file=sys.stderr,
                        flush=True,
                    )
            except KlogError as e:
                print(f"klogtui: {e}", file=sys.stderr, flush=True)
                if not opened:
                    self._opened.release()
                return
            if not opened:
                opened = True
                self._opened.release()
            threading.Event().wait(_RETRY_S)

    def follow(self, printer: _Output, shown: list[NodeLine]) -> None:
        """Print what the tails bring, each line once. Only at a seam can a line come
        twice (the snapshot's or a catch-up's lines again from a tail), so only those
        lines are remembered, each until its second coming."""
        seam = {(ln.node, ln.cursor) for ln in shown}
        for ln in shown:
            self._seen(ln)
        while True:
            ln, from_tail = self.arrived.get()
            key = (ln.node, ln.cursor)
            if key in seam:
                seam.discard(key)
                continue
            if not from_tail:
                seam.add(key)
            self._seen(ln)
            printer.write([ln])
