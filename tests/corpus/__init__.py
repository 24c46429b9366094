"""A corpus of real-world log shapes with their ground truth: what events they are.

Each `Shape` is a list of events as a container writes them: the stream, the level the
event must get, and its physical lines. `cri_file` writes shapes into a CRI log file with
the events of stdout and stderr interleaved line by line (as a runtime does when both
write at once), so grouping per stream is put to the test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from klogtui.model import Level

__all__ = ["SHAPES", "Event", "cri_file", "events_of", "messages_by_stream"]

T0 = 1_795_514_400_000_000_000  # 2026-11-24T10:00:00Z


@dataclass(frozen=True)
class Event:
    stream: str  # "stdout" | "stderr"
    level: Level
    lines: tuple[str, ...]
    fields: dict[str, object] | None = None

    @property
    def message(self) -> str:
        return "\n".join(self.lines)


def _e(stream: str, level: Level, *lines: str, fields: dict[str, object] | None = None) -> Event:
    return Event(stream, level, lines, fields)


SPRING = [
    _e(
        "stdout",
        Level.INFO,
        "2026-11-24 10:00:00.001  INFO 1 --- [main] c.e.shop.ShopApplication : "
        "Started ShopApplication in 3.2 seconds",
    ),
    _e(
        "stdout",
        Level.ERROR,
        "2026-11-24 10:00:01.002 ERROR 1 --- [nio-8080-exec-1] "
        "o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception",
        "java.lang.IllegalStateException: order 42 has no lines",
        "\tat com.example.shop.OrderService.total(OrderService.java:88)",
        "\tat com.example.shop.OrderController.show(OrderController.java:31)",
        "\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
        "Caused by: java.sql.SQLException: connection reset",
        "\tat org.postgresql.core.v3.QueryExecutorImpl.execute(QueryExecutorImpl.java:356)",
        "\t... 48 more",
        "Caused by: java.net.SocketException: Connection reset",
        "\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:323)",
        "\t... 12 common frames omitted",
    ),
    _e(
        "stdout",
        Level.WARN,
        "2026-11-24 10:00:02.003  WARN 1 --- [main] o.h.e.j.e.i.JdbcEnvironmentInitiator : "
        "HHH000342: Could not obtain connection to query metadata",
    ),
]

PYTHON = [
    _e("stderr", Level.INFO, "INFO:app:serving on 0.0.0.0:8000"),
    _e(
        "stderr",
        Level.ERROR,
        "ERROR:app:request failed",
        "Traceback (most recent call last):",
        '  File "/app/server.py", line 41, in handle',
        "    body = json.loads(raw)",
        '  File "/usr/lib/python3.12/json/__init__.py", line 346, in loads',
        "    return _default_decoder.decode(s)",
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/server.py", line 44, in handle',
        "    raise BadRequest(str(exc))",
        "app.errors.BadRequest: Expecting value: line 1 column 1 (char 0)",
    ),
    _e(
        "stderr",
        Level.ERROR,
        "Traceback (most recent call last):",
        '  File "/app/worker.py", line 9, in <module>',
        "    main()",
        "KeyError: 'QUEUE_URL'",
    ),
    _e("stderr", Level.UNKNOWN, "worker exited"),
]

GO_PANIC = [
    _e("stdout", Level.UNKNOWN, "2026/11/24 10:00:00 listening on :8080"),
    _e(
        "stderr",
        Level.FATAL,
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]",
        "",
        "goroutine 1 [running]:",
        "main.(*Server).handle(0x0, {0x5c1e40, 0xc000010000})",
        "\t/src/server.go:42 +0x2c",
        "main.main()",
        "\t/src/main.go:17 +0x1d",
        "",
        "goroutine 18 [chan receive, 3 minutes]:",
        "net/http.(*Server).Serve.func1()",
        "\t/usr/local/go/src/net/http/server.go:3059 +0x45",
        "created by net/http.(*Server).Serve in goroutine 1",
        "\t/usr/local/go/src/net/http/server.go:3057 +0x2a5",
    ),
    _e("stderr", Level.UNKNOWN, "exit status 2"),
]

NODE = [
    _e("stdout", Level.UNKNOWN, "Server listening on port 3000"),
    _e(
        "stderr",
        Level.ERROR,
        "Error: connect ECONNREFUSED 10.0.0.7:5432",
        "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)",
        "    at Protocol._enqueue (/app/node_modules/mysql/lib/protocol/Protocol.js:144:48)",
        "    at async Promise.all (index 0)",
    ),
    _e("stdout", Level.UNKNOWN, "retrying in 5s"),
]

ZAP_LOGRUS = [
    _e(
        "stderr",
        Level.INFO,
        '{"level":"info","ts":1795514400.1,"caller":"server/main.go:51",'
        '"msg":"started","port":8080,"http.route":"/api/v1"}',
        fields={
            "ts": 1795514400.1,
            "caller": "server/main.go:51",
            "port": 8080,
            "http.route": "/api/v1",
        },
    ),
    _e(
        "stderr",
        Level.ERROR,
        '{"level":"error","ts":1795514400.2,"msg":"request failed","status":503,'
        '"latency":0.25,"user":{"id":7,"name":"zoë"},"stacktrace":"main.handle\\n\\t/src/x.go:3"}',
        fields={
            "ts": 1795514400.2,
            "status": 503,
            "latency": 0.25,
            "user": {"id": 7, "name": "zoë"},
            "stacktrace": "main.handle\n\t/src/x.go:3",
        },
    ),
    _e(
        "stdout",
        Level.WARN,
        '{"level":"warning","msg":"disk almost full","time":"2026-11-24T10:00:00Z","pct":91}',
        fields={"time": "2026-11-24T10:00:00Z", "pct": 91},
    ),
    _e(
        "stdout",
        Level.INFO,
        '{"level": "info", "msg": "broken',  # invalid JSON: kept raw, no fields
    ),
]

LOGFMT = [
    _e(
        "stdout",
        Level.INFO,
        'time=2026-11-24T10:00:00Z level=info msg="GET /healthz" status=200 duration=1.2ms',
        fields={"time": "2026-11-24T10:00:00Z", "status": "200", "duration": "1.2ms"},
    ),
    _e(
        "stdout",
        Level.ERROR,
        'ts=2026-11-24T10:00:01Z lvl=error caller=db.go:12 err="dial tcp: timeout" retry=true',
        fields={
            "ts": "2026-11-24T10:00:01Z",
            "caller": "db.go:12",
            "err": "dial tcp: timeout",
            "retry": "true",
        },
    ),
]

KLOG = [
    _e(
        "stderr",
        Level.INFO,
        'I1124 10:00:00.123456       1 controller.go:104] "Starting" name="web"',
    ),
    _e(
        "stderr",
        Level.ERROR,
        'E1124 10:00:01.654321       1 reflector.go:147] "Failed to watch" err="forbidden"',
    ),
]

ANSI = [
    _e("stdout", Level.UNKNOWN, "\x1b[32m  VITE v5.0.0\x1b[39m  ready in \x1b[1m312\x1b[22m ms"),
    _e("stdout", Level.ERROR, '\x1b[31mERROR\x1b[0m Failed to resolve import "./missing"'),
    _e("stdout", Level.WARN, "\x1b[33m[warn]\x1b[39m unused export `foo`"),
]

SHAPES: dict[str, list[Event]] = {
    "spring": SPRING,
    "python": PYTHON,
    "go_panic": GO_PANIC,
    "node": NODE,
    "zap_logrus": ZAP_LOGRUS,
    "logfmt": LOGFMT,
    "klog": KLOG,
    "ansi": ANSI,
}


def _stamp(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    import time as _time

    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(secs)) + f".{frac:09d}Z"


def cri_file(events: Iterable[Event], start_ns: int = T0) -> bytes:
    """The CRI file a runtime writes for these events: each event's lines stamped with
    its own time, stdout and stderr lines interleaved (one of each in turn) while both
    streams have events to write. Returns the bytes."""
    by_stream: dict[str, list[tuple[int, str]]] = {"stdout": [], "stderr": []}
    for i, event in enumerate(events):
        ts = start_ns + i * 1_000_000
        by_stream[event.stream].extend((ts, line) for line in event.lines)
    out: list[bytes] = []
    queues = {name: list(reversed(q)) for name, q in by_stream.items()}
    while any(queues.values()):
        for name in ("stdout", "stderr"):
            if queues[name]:
                ts, line = queues[name].pop()
                out.append(f"{_stamp(ts)} {name} F {line}\n".encode())
    return b"".join(out)


def events_of(shapes: Iterable[str]) -> list[Event]:
    return [e for name in shapes for e in SHAPES[name]]


def messages_by_stream(events: Iterable[Event]) -> dict[int, list[str]]:
    """The events' messages per stream (1 stdout, 2 stderr), in order: what the store
    must hold for each."""
    out: dict[int, list[str]] = {1: [], 2: []}
    for e in events:
        out[1 if e.stream == "stdout" else 2].append(e.message)
    return out
