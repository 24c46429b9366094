"""What the demo's containers say: one line generator per kind of workload.

Each generator takes the container's seeded `random.Random` and the simulated time and
returns the (stream, text) lines of one event: zap and logrus JSON, logfmt, klog and
plain messages; stderr; Java (Spring Boot), Python and Go stack traces; ~20 KB lines; an
ANSI-coloured dev server; Rich markup and stray escapes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from klogtui.collect.demo.ids import random_hex, random_uid

__all__ = [
    "Generator",
    "Lines",
    "cart",
    "checkout",
    "coredns",
    "devserver",
    "envoy",
    "etl",
    "grafana",
    "kube_proxy",
    "loadgen",
    "mailer",
    "metrics_server",
    "orders",
    "payment",
    "postgres",
    "prometheus",
    "redis",
    "reloader",
    "web",
]

_NS = 1_000_000_000

# (stream, text) pairs one event writes: usually one line, several for a stack trace.
Lines = list[tuple[str, str]]
Generator = Callable[[random.Random, int], Lines]


def _clock(ts: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts // _NS))


def _iso(ts: int, digits: int = 3) -> str:
    frac = str(ts % _NS).zfill(9)[:digits]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // _NS)) + f".{frac}Z"


def _klog(ts: int, level: str, where: str, msg: str) -> str:
    t = time.gmtime(ts // _NS)
    micros = (ts % _NS) // 1000
    return f"{level}{t.tm_mon:02d}{t.tm_mday:02d} {_clock(ts)}.{micros:06d}       1 {where}] {msg}"


# -- message generators ---------------------------------------------------------------------

_PATHS = ("/", "/api/cart", "/api/products", "/api/checkout", "/static/app.js", "/healthz")
_AGENTS = ("Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "kube-probe/1.30", "Go-http-client/2.0")


def web(rng: random.Random, ts: int) -> Lines:
    """zap's production JSON: epoch seconds in "ts", "caller", then the fields."""
    status = rng.choices((200, 201, 304, 404, 500), (80, 5, 8, 5, 2))[0]
    level = "error" if status >= 500 else "warn" if status >= 400 else "info"
    obj = {
        "level": level,
        "ts": round(ts / _NS, 6),
        "caller": "server/http.go:88",
        "msg": "request",
        "method": rng.choice(("GET", "GET", "GET", "POST")),
        "path": rng.choice(_PATHS),
        "status": status,
        "duration_ms": round(rng.lognormvariate(2.5, 0.8), 1),
        "user_agent": rng.choice(_AGENTS),
        "trace_id": random_hex(rng, 16),
    }
    return [("stdout", json.dumps(obj))]


def envoy(rng: random.Random, ts: int) -> Lines:
    status = rng.choices((200, 503, 404), (95, 2, 3))[0]
    path = rng.choice(_PATHS)
    return [
        (
            "stdout",
            f'[{_iso(ts)}] "GET {path} HTTP/1.1" {status} - via_upstream - "-" 0 '
            f'{rng.randint(100, 9000)} {rng.randint(1, 90)} {rng.randint(1, 80)} "-" '
            f'"{rng.choice(_AGENTS)}" "{random_uid(rng)}" "shop.example.com" '
            f'"10.244.0.{rng.randint(2, 250)}:8080"',
        )
    ]


_PY_TRACE = (
    "Traceback (most recent call last):",
    '  File "/app/checkout/service.py", line 214, in place_order',
    "    receipt = payments.charge(order.total, order.card)",
    '  File "/app/checkout/payments.py", line 88, in charge',
    "    raise PaymentDeclined(resp.reason)",
    "checkout.payments.PaymentDeclined: card declined (insufficient funds)",
)


def checkout(rng: random.Random, ts: int) -> Lines:
    order = rng.randint(100000, 999999)
    if rng.random() < 0.03:
        head = f'time={_iso(ts)} level=error msg="order failed" order_id={order}'
        return [("stderr", head)] + [("stderr", line) for line in _PY_TRACE]
    amount = rng.randint(500, 50000) / 100
    msg = rng.choice(("order placed", "cart priced", "inventory reserved", "receipt mailed"))
    return [("stdout", f'time={_iso(ts)} level=info msg="{msg}" order_id={order} amount={amount}')]


def cart(rng: random.Random, ts: int) -> Lines:
    r = rng.random()
    if r < 0.02:
        return [("stderr", _klog(ts, "E", "store.go:143", 'redis: "i/o timeout" key="cart:42"'))]
    if r < 0.08:
        return [("stderr", _klog(ts, "W", "handler.go:61", "slow request took 1.2s"))]
    items = rng.randint(0, 12)
    return [
        (
            "stdout",
            _klog(ts, "I", "handler.go:87", f"GET /cart user={rng.randint(1, 5000)} items={items}"),
        )
    ]


GO_PANIC = (
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b4f2a]",
    "",
    "goroutine 1 [running]:",
    "main.(*Gateway).Connect(0x0, {0xc0000b4000, 0x1f})",
    "\t/src/payment/gateway.go:57 +0x2a",
    "main.main()",
    "\t/src/payment/main.go:31 +0x1c5",
)


def payment(rng: random.Random, ts: int) -> Lines:
    msg = rng.choice(("loading config", "connecting to gateway", "warming cache", "retrying"))
    return [("stdout", f'level=info ts={_iso(ts)} msg="{msg}"')]


def loadgen(rng: random.Random, ts: int) -> Lines:
    r = rng.random()
    if r < 0.1:
        return [("stdout", "[bold red]ALERT[/] p99 above 500ms [link=http://x]click[/link]")]
    if r < 0.2:
        return [("stderr", "\x1b[31mERROR\x1b[0m connection reset by peer \x1b[2J\x1b[H")]
    done = rng.randint(0, 10)
    return [
        (
            "stdout",
            f"progress [{'#' * done}{'-' * (10 - done)}] sent {rng.randint(10, 99)} requests",
        )
    ]


def postgres(rng: random.Random, ts: int) -> Lines:
    stamp = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts // _NS))
        + f".{(ts % _NS) // 1_000_000:03d} UTC"
    )
    if rng.random() < 0.05:
        return [
            (
                "stderr",
                f"{stamp} [{rng.randint(100, 999)}] ERROR:  duplicate key value violates "
                'unique constraint "orders_pkey"',
            ),
            (
                "stderr",
                f"{stamp} [{rng.randint(100, 999)}] DETAIL:  "
                f"Key (id)=({rng.randint(1, 99999)}) already exists.",
            ),
        ]
    msg = rng.choice(
        (
            "checkpoint starting: time",
            "checkpoint complete: wrote 42 buffers (0.3%)",
            'automatic vacuum of table "shop.public.orders"',
            "connection authorized: user=app",
        )
    )
    return [("stderr", f"{stamp} [1] LOG:  {msg}")]


def redis(rng: random.Random, ts: int) -> Lines:
    t = time.gmtime(ts // _NS)
    stamp = time.strftime("%d %b %Y %H:%M:%S", t) + f".{(ts % _NS) // 1_000_000:03d}"
    msg = rng.choice(
        (
            "Background saving started by pid 42",
            "DB saved on disk",
            "100 changes in 300 seconds. Saving...",
            "Background saving terminated with success",
        )
    )
    return [("stdout", f"1:M {stamp} * {msg}")]


def etl(rng: random.Random, ts: int) -> Lines:
    if rng.random() < 0.02:
        # A record dump of about 20 KB: the runtime splits it into 16 KiB fragments.
        payload = {
            "level": "debug",
            "msg": "record dump",
            "rows": [random_hex(rng, 60) for _ in range(320)],
        }
        return [("stdout", json.dumps(payload))]
    return [
        (
            "stdout",
            json.dumps(
                {  # logrus' JSON formatter: level, msg, time, then the fields
                    "level": "info",
                    "msg": "processed batch",
                    "time": _iso(ts, 0)[:-1] + "Z",
                    "batch": rng.randint(1, 9999),
                    "rows": rng.randint(100, 5000),
                }
            ),
        )
    ]


def _spring(ts: int, level: str, thread: str, logger: str, msg: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts // _NS))
    return f"{stamp}.{(ts % _NS) // 1_000_000:03d} {level:>5} 1 --- [{thread}] {logger} : {msg}"


def orders(rng: random.Random, ts: int) -> Lines:
    """A Spring Boot service; now and then a request fails with a Java stack trace."""
    order = rng.randint(10000, 99999)
    thread = f"nio-8080-exec-{rng.randint(1, 10)}"
    if rng.random() < 0.03:
        head = _spring(
            ts,
            "ERROR",
            thread,
            "o.a.c.c.C.[.[.[/].[dispatcherServlet]",
            "Servlet.service() for servlet [dispatcherServlet] threw exception",
        )
        trace = (
            f"org.springframework.dao.DataAccessResourceFailureException: order {order}: "
            "could not fetch lines",
            "\tat com.example.orders.OrderRepository.lines(OrderRepository.java:88)",
            "\tat com.example.orders.OrderService.total(OrderService.java:41)",
            "\tat com.example.orders.OrderController.show(OrderController.java:27)",
            "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
            "Caused by: java.sql.SQLTransientConnectionException: "
            "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
            "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
            "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
            "\t... 48 more",
            "Caused by: java.net.SocketTimeoutException: Read timed out",
            "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
            "\t... 12 common frames omitted",
        )
        return [("stdout", head)] + [("stdout", line) for line in trace]
    if rng.random() < 0.05:
        msg = (
            "HikariPool-1 - Thread starvation or clock leap detected "
            f"(housekeeper delta={rng.randint(1, 9)}m)."
        )
        return [
            ("stdout", _spring(ts, "WARN", "HikariPool-1 housekeeper", "c.z.h.p.HikariPool", msg))
        ]
    verb = rng.choice(("created", "shipped", "paid", "cancelled"))
    msg = f"order {order} {verb} in {rng.randint(3, 400)}ms"
    return [("stdout", _spring(ts, "INFO", thread, "c.e.orders.OrderController", msg))]


def mailer(rng: random.Random, ts: int) -> Lines:
    """A Python worker (logging's default format on stderr) with chained tracebacks."""
    job = rng.randint(1000, 9999)
    if rng.random() < 0.04:
        return [
            ("stderr", f"ERROR:mailer.worker:job {job} failed"),
            ("stderr", "Traceback (most recent call last):"),
            ("stderr", '  File "/app/mailer/smtp.py", line 57, in send'),
            ("stderr", "    conn.sendmail(sender, rcpt, body)"),
            ("stderr", "ConnectionResetError: [Errno 104] Connection reset by peer"),
            ("stderr", ""),
            ("stderr", "During handling of the above exception, another exception occurred:"),
            ("stderr", ""),
            ("stderr", "Traceback (most recent call last):"),
            ("stderr", '  File "/app/mailer/worker.py", line 112, in run'),
            ("stderr", "    send(job)"),
            ("stderr", '  File "/app/mailer/smtp.py", line 61, in send'),
            ("stderr", "    raise DeliveryError(rcpt) from None"),
            ("stderr", f"mailer.errors.DeliveryError: job {job}: <user{job}@example.com>"),
        ]
    what = rng.choice(("sent receipt", "sent password reset", "queued digest"))
    return [("stderr", f"INFO:mailer.worker:job {job} {what} in {rng.randint(20, 900)}ms")]


def devserver(rng: random.Random, ts: int) -> Lines:
    """A front-end dev server colouring its output with SGR escapes (as vite or next do)."""
    clock = f"\x1b[2m{_clock(ts)}\x1b[22m"
    r = rng.random()
    if r < 0.05:
        return [
            (
                "stdout",
                f"{clock} \x1b[31m\x1b[1mERROR\x1b[22m\x1b[39m Failed to compile "
                f"\x1b[36msrc/pages/cart.tsx\x1b[39m: Unexpected token (42:{rng.randint(1, 80)})",
            )
        ]
    if r < 0.15:
        return [
            (
                "stdout",
                f"{clock} \x1b[33mWARN\x1b[39m \x1b[1mlarge chunk\x1b[22m "
                f"assets/index.js is {rng.randint(501, 900)} kB",
            )
        ]
    page = rng.choice(("/", "/cart", "/products/[id]", "/checkout"))
    return [
        (
            "stdout",
            f"{clock} \x1b[32m\u2713\x1b[39m compiled \x1b[1m{page}\x1b[22m "
            f"in {rng.randint(40, 900)}ms \x1b[2m({rng.randint(200, 900)} modules)\x1b[22m",
        )
    ]


def prometheus(rng: random.Random, ts: int) -> Lines:
    msg = rng.choice(
        (
            '"Head GC completed" duration=12.3ms',
            '"Compacting blocks"',
            '"WAL checkpoint complete" first=12 last=13',
            '"Scrape failed" err="context deadline exceeded"',
        )
    )
    level = "warn" if "failed" in msg else "info"
    return [("stdout", f"ts={_iso(ts)} caller=head.go:812 level={level} component=tsdb msg={msg}")]


def reloader(rng: random.Random, ts: int) -> Lines:
    return [
        (
            "stdout",
            _klog(
                ts, "I", "reloader.go:372", "Reload triggered cfg_in=/etc/prometheus/prometheus.yml"
            ),
        )
    ]


def grafana(rng: random.Random, ts: int) -> Lines:
    path = rng.choice(("/api/health", "/api/dashboards/uid/abc", "/api/ds/query"))
    return [
        (
            "stdout",
            f"logger=context userId=0 orgId=1 t={_iso(ts)} level=info "
            f'msg="Request Completed" method=GET path={path} status=200',
        )
    ]


def coredns(rng: random.Random, ts: int) -> Lines:
    name = rng.choice(
        ("checkout.shop.svc.cluster.local.", "postgres-0.data.svc.cluster.local.", "example.com.")
    )
    rcode = rng.choices(("NOERROR", "NXDOMAIN"), (90, 10))[0]
    return [
        (
            "stdout",
            f"[INFO] 10.244.0.{rng.randint(2, 250)}:{rng.randint(30000, 60000)} - "
            f'{rng.randint(1, 65535)} "A IN {name} udp 50 false 512" {rcode} qr,aa,rd 110 '
            f"0.000{rng.randint(100, 999)}s",
        )
    ]


def kube_proxy(rng: random.Random, ts: int) -> Lines:
    return [
        (
            "stderr",
            _klog(
                ts,
                "I",
                "proxier.go:812",
                f'"SyncProxyRules complete" elapsed="{rng.randint(5, 90)}ms"',
            ),
        )
    ]


def metrics_server(rng: random.Random, ts: int) -> Lines:
    if rng.random() < 0.3:
        return [
            (
                "stderr",
                _klog(
                    ts,
                    "E",
                    "scraper.go:140",
                    '"Failed to scrape node" err="Get \\"https://10.0.0.7:10250/metrics/resource'
                    '\\": context deadline exceeded" node="worker-2"',
                ),
            )
        ]
    return [
        (
            "stderr",
            _klog(
                ts,
                "I",
                "server.go:187",
                '"Scrape finished" duration="1.2s" nodeCount=3 podCount=42',
            ),
        )
    ]
