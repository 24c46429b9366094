"""The API's HTTP server: the stdlib's threading server, a thread per connection, with
the bounds of klogtui.serve.limits around it.

Why the stdlib server: no dependency for a read-only API of a few routes, and its
blocking model suits the work: each request is one SQLite read, which releases the GIL
(the ingest threads keep running), on a connection of its own. Its weakness, a thread
per connection without end, is bounded here (`Limits.connections`), and a socket
timeout ends a client that stops reading. Measured on a demo store (2 loaded cores):
/healthz 0.12 ms median over keep-alive, the newest 200 lines 3.9 ms, a text query's
newest 200 2.8 ms; `bench/api_load.py` has it under 20 concurrent clients.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from klogtui.collect.runner import Running
from klogtui.errors import KlogError, QueryError
from klogtui.serve.auth import TOKEN_HEADER, AuthFailed, Authorizer, Caller, ReviewFailed
from klogtui.serve.limits import Busy, Limits, ReaderPool, TimedOut, time_limited
from klogtui.serve.metrics import CONTENT_TYPE, IngestMetrics
from klogtui.serve.routes import (
    JSON,
    NDJSON,
    Answer,
    BadRequest,
    Forbidden,
    Routes,
    Scope,
    query_error,
    scoped_query,
)
from klogtui.serve.tail import CommitSignal, follow, start
from klogtui.store import CommitInfo
from klogtui.store.compile import CompiledQuery
from klogtui.store.reader import Reader

__all__ = ["Api", "ServeOptions", "announced_port", "is_loopback", "parse_listen"]

_API_NICE = 10
_ANNOUNCED = "query API on http://"  # what start() says on stderr, before the address


def announced_port(line: str) -> int | None:
    """The port a line of the collector's stderr says the query API listens on, if it is
    that line (with `--listen 127.0.0.1:0` it is the only way to learn the port)."""
    if _ANNOUNCED not in line:
        return None
    return int(line.split(_ANNOUNCED, 1)[1].split()[0].rsplit(":", 1)[1])


_READ_ROUTES = frozenset(
    {
        "/api/v1/lines",
        "/api/v1/facets",
        "/api/v1/fields",
        "/api/v1/field-values",
        "/api/v1/histogram",
        "/api/v1/sources",
    }
)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where the API listens and its bounds."""

    host: str
    port: int
    limits: Limits = field(default_factory=Limits)


def parse_listen(text: str) -> ServeOptions:
    """`PORT`, `ADDR:PORT` or `[V6ADDR]:PORT` (a bare port listens on loopback).

    Raises:
        ValueError: with a message for the user.
    """
    host, sep, port = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    host = host.removeprefix("[").removesuffix("]")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {text!r}: give PORT or ADDR:PORT (e.g. 127.0.0.1:8470)")
    return ServeOptions(host or "0.0.0.0", int(port))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, JSON, json.dumps({"error": message}).encode(), headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    api: Api

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self._open = 0
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            full = self._open >= self.api.limits.connections
            if not full:
                self._open += 1
        if full:
            # Said without waiting on the client: the answer fits the socket's buffer.
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    @property
    def connections(self) -> int:
        with self._open_lock:
            return self._open

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up mid-answer: nothing to tell anyone


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body waited for
    # the client's delayed ACK, 40 ms on every small answer (measured: /healthz 44 ms).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        # A client that stops reading (or never sends its request) is dropped after this.
        self.request.settimeout(self.server.api.limits.socket_s)
        # Ingest comes first: when the CPU is short, the kernel runs the collector's own
        # threads before this one (a thread's nice value is its own on Linux).
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _API_NICE)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True

    def _send(self, a: Answer) -> None:
        self.send_response(a.status)
        self.send_header("Content-Type", a.content_type)
        self.send_header("Content-Length", str(len(a.body)))
        for name, value in a.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(a.body)

    def _route(self) -> None:
        api = self.server.api
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if path == "/healthz":
            self._send(Answer(200, "text/plain", b"ok\n"))
        elif path == "/readyz":
            ready, why = api.ready()
            self._send(Answer(200 if ready else 503, "text/plain", why.encode() + b"\n"))
        elif path == "/metrics":
            self._send(api.metrics_answer(self.headers.get(TOKEN_HEADER)))
        elif path in _READ_ROUTES:
            self._send(api.read(path, params, self.headers.get(TOKEN_HEADER)))
        elif path == "/api/v1/tail":
            self._tail(params)
        else:
            self._send(_error(404, f"no such endpoint: {path}"))

    def _tail(self, params: dict[str, str]) -> None:
        api = self.server.api
        try:
            with api.tail_slot():
                scope_of = api.scope_of(self.headers.get(TOKEN_HEADER))
                reader = Reader(api.store)
                try:
                    text = params.get("q", "")
                    try:
                        with time_limited(reader, api.limits.request_s):
                            scoped_query(reader, text, scope_of(reader))  # refused before 200
                    except QueryError as e:
                        raise _Refusal(query_error(e)) from None
                    except Forbidden as e:
                        raise _Refusal(_error(403, str(e))) from None
                    except TimedOut:
                        raise _Refusal(_error(503, "the query ran past its time limit")) from None
                    begin = start(reader, api.signal)
                    self.send_response(200)
                    self.send_header("Content-Type", NDJSON)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.flush()
                    self.close_connection = True

                    def query() -> CompiledQuery:
                        with time_limited(reader, api.limits.request_s):
                            return scoped_query(reader, text, scope_of(reader))

                    def write(data: bytes) -> None:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()

                    # The caller lost access, the store broke, a read ran too long: the
                    # stream ends (its status is sent already).
                    with contextlib.suppress(_Refusal, TimedOut, KlogError, sqlite3.Error):
                        follow(reader, query, api.signal, write, self._client_gone, begin)
                    with contextlib.suppress(OSError):
                        self.wfile.write(b"0\r\n\r\n")
                finally:
                    reader.close()
        except _Refusal as r:
            self._send(r.answer)

    def _client_gone(self) -> bool:
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class _Refusal(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class Api:
    """The query API of one `klogtui collect`: its server thread, readers and metrics.

    The runner calls `on_commit` from the writer, `start` once collection runs and
    `stop` before collection stops.

    Args:
        opts: where to listen and the bounds.
        store: the store file.
        authorizer: checks each caller (None: the API is open, on loopback only).
    """

    def __init__(self, opts: ServeOptions, store: Path, authorizer: Authorizer | None) -> None:
        self.limits = opts.limits
        self.store = store
        self.signal = CommitSignal()
        self._opts = opts
        self._authorizer = authorizer
        self._metrics = IngestMetrics(store, self._connections)
        self._routes = Routes(opts.limits.max_limit)
        self._pool = ReaderPool(store, opts.limits.queries)
        self._tails = threading.BoundedSemaphore(opts.limits.tails)
        self._running: Running | None = None
        self._ready = False
        self._ready_at: int | None = None  # lines handed over when the newest were read
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def _connections(self) -> int:
        return 0 if self._server is None else self._server.connections

    # -- the runner's side ----------------------------------------------------------------

    def on_commit(self, info: CommitInfo) -> None:
        self._metrics.committed(info)
        self.signal.committed()

    def start(self, running: Running) -> None:
        """Listen (raises KlogError if the address cannot be had) and serve."""
        self._running = running
        self._metrics.attach(running)
        try:
            self._server = _Server((self._opts.host, self._opts.port), self)
        except OSError as e:
            raise KlogError(
                f"--listen {self._opts.host}:{self._opts.port}: cannot listen ({e.strerror or e})"
            ) from e
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="klogtui-api",
            daemon=True,
        )
        self._thread.start()
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        checked = "each caller's token checked" if self._authorizer else "open, loopback only"
        # Said once on stderr: with port 0 it is the only way to learn the port.
        print(f"klogtui: {_ANNOUNCED}{shown}:{port} ({checked})", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self.signal.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._pool.close()

    # -- the handlers' side -----------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        running = self._running
        if running is None or not self.store.exists():
            return False, "store not open"
        if not self._ready:
            # Ready: every container's newest lines are committed, so a query sees what
            # the node held when the collector started, but the older history, which
            # recent first loads behind them (said in the answer and in /metrics).
            if self._ready_at is None:
                if not running.recent_read():
                    return False, "first scan of the log files not done"
                self._ready_at = running.writer.handed_over()[0]
            if running.writer.handed_over()[1] < self._ready_at:
                return False, "first scan of the log files not stored yet"
            self._ready = True
        loading = running.history_loading()
        if loading is not None:
            return True, f"ok; older history loading: {loading:.0%}"
        return True, "ok"

    def metrics_answer(self, token: str | None) -> Answer:
        if self._authorizer is not None:
            try:
                caller = self._authorizer.caller(token)
                if not self._authorizer.may_get_path(caller, "/metrics"):
                    return _error(403, f"{caller.username} may not get /metrics")
            except AuthFailed as e:
                return _error(401, str(e))
            except ReviewFailed as e:
                return _error(503, f"cannot check credentials: {e}", (("Retry-After", "5"),))
        return Answer(200, CONTENT_TYPE, self._metrics.text())

    def scope_of(self, token: str | None) -> Callable[[Reader], Scope]:
        """How to find the caller's namespaces in a reader's store.

        Raises:
            _Refusal: 401 without a valid token, 503 when the API server cannot be asked.
        """
        authorizer = self._authorizer
        if authorizer is None:
            return lambda reader: None
        caller = self._caller(authorizer, token)

        def scope(reader: Reader) -> Scope:
            try:
                names = {s.namespace for s in reader.sources()}
                return frozenset(authorizer.readable(caller, names))
            except ReviewFailed as e:
                answer = _error(503, f"cannot check access: {e}", (("Retry-After", "5"),))
                raise _Refusal(answer) from None

        return scope

    @staticmethod
    def _caller(authorizer: Authorizer, token: str | None) -> Caller:
        try:
            return authorizer.caller(token)
        except AuthFailed as e:
            raise _Refusal(_error(401, str(e))) from None
        except ReviewFailed as e:
            raise _Refusal(
                _error(503, f"cannot check credentials: {e}", (("Retry-After", "5"),))
            ) from None

    @contextlib.contextmanager
    def tail_slot(self) -> Iterator[None]:
        if not self._tails.acquire(blocking=False):
            raise _Refusal(_busy("too many tails open"))
        try:
            yield
        finally:
            self._tails.release()

    def read(self, path: str, params: dict[str, str], token: str | None) -> Answer:
        """One read endpoint's answer, every failure turned into its status."""
        try:
            scope_of = self.scope_of(token)
            with self._pool.reader() as reader, time_limited(reader, self.limits.request_s):
                scope = scope_of(reader)
                if path == "/api/v1/lines":
                    return self._routes.lines(reader, params, scope)
                if path == "/api/v1/facets":
                    return self._routes.facets(reader, params, scope)
                if path == "/api/v1/fields":
                    return self._routes.fields(reader, params, scope)
                if path == "/api/v1/field-values":
                    return self._routes.field_values(reader, params, scope)
                if path == "/api/v1/histogram":
                    return self._routes.histogram(reader, params, scope)
                return self._routes.sources(reader, scope)
        except _Refusal as r:
            return r.answer
        except QueryError as e:
            return query_error(e)
        except BadRequest as e:
            return Answer(400, JSON, json.dumps({"error": e.message, "column": e.column}).encode())
        except Forbidden as e:
            return _error(403, str(e))
        except Busy:
            return _busy("too many requests at work")
        except TimedOut:
            return _error(
                503,
                f"the query ran past the {self.limits.request_s:g} s limit: narrow it "
                "(a namespace, a pod, since:)",
            )
        except sqlite3.OperationalError as e:
            return _error(503, f"store busy ({e})", (("Retry-After", "1"),))
        except KlogError as e:
            return _error(500, str(e))


def _busy(what: str) -> Answer:
    return _error(503, f"{what}: try again shortly", (("Retry-After", "1"),))
