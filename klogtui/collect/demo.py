"""A synthetic cluster that writes kubelet-style log files, for `--demo` and tests.

`DemoCluster` lays out ``<root>/pods/<ns>_<pod>_<uid>/<container>/<n>.log`` and
``<root>/containers/*.log`` links exactly as kubelet does, and the normal file
collector tails them: the demo runs the real pipeline. It has four namespaces and a
dozen pods with sidecars; JSON, logfmt, klog and plain messages; stderr; multi-line
stack traces; ~20 KB lines split into 16 KiB CRI ``P`` fragments; one pod in Docker
json-file format and one with zoned (CRI-O style) timestamps; lines carrying Rich
markup and ANSI escapes (log text is data: the UI must show them inert); rotation of
big files (rename, the runtime still writing to the old file until it reopens, gzip
of older rotations via ``.tmp``, oldest removed); a CrashLoop pod restarting with
back-off (``1.log``, ``2.log`` …); a Job pod that completes; a pod deleted after a while.

Everything is deterministic given the seed and start time: lines come from a per-
container random process driven by the simulated clock, lifecycle events happen at
fixed simulated times, so ``step(600)`` and six hundred ``step(1)`` write the same files.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DemoCluster"]

_NS = 1_000_000_000
_CRI_MAX = 16384  # containerd splits longer lines into P fragments
_ROTATE_CHECK_S = 10  # kubelet checks sizes every 10 s
_MAX_FILES = 5  # kubelet's containerLogMaxFiles: the live file and 4 rotated
_CRASH_BACKOFF_S = (10, 20, 40, 80, 160, 300)

# (stream, text) pairs one event writes: usually one line, several for a stack trace.
Lines = list[tuple[str, str]]
Generator = Callable[[random.Random, int], Lines]


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _uid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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


def _web(rng: random.Random, ts: int) -> Lines:
    status = rng.choices((200, 201, 304, 404, 500), (80, 5, 8, 5, 2))[0]
    level = "error" if status >= 500 else "warn" if status >= 400 else "info"
    obj = {
        "ts": _iso(ts),
        "level": level,
        "msg": "request",
        "method": rng.choice(("GET", "GET", "GET", "POST")),
        "path": rng.choice(_PATHS),
        "status": status,
        "duration_ms": round(rng.lognormvariate(2.5, 0.8), 1),
        "user_agent": rng.choice(_AGENTS),
        "trace_id": _hex(rng, 16),
    }
    return [("stdout", json.dumps(obj))]


def _envoy(rng: random.Random, ts: int) -> Lines:
    status = rng.choices((200, 503, 404), (95, 2, 3))[0]
    path = rng.choice(_PATHS)
    return [
        (
            "stdout",
            f'[{_iso(ts)}] "GET {path} HTTP/1.1" {status} - via_upstream - "-" 0 '
            f'{rng.randint(100, 9000)} {rng.randint(1, 90)} {rng.randint(1, 80)} "-" '
            f'"{rng.choice(_AGENTS)}" "{_uid(rng)}" "shop.example.com" '
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


def _checkout(rng: random.Random, ts: int) -> Lines:
    order = rng.randint(100000, 999999)
    if rng.random() < 0.03:
        head = f'time={_iso(ts)} level=error msg="order failed" order_id={order}'
        return [("stderr", head)] + [("stderr", line) for line in _PY_TRACE]
    amount = rng.randint(500, 50000) / 100
    msg = rng.choice(("order placed", "cart priced", "inventory reserved", "receipt mailed"))
    return [("stdout", f'time={_iso(ts)} level=info msg="{msg}" order_id={order} amount={amount}')]


def _cart(rng: random.Random, ts: int) -> Lines:
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


_GO_PANIC = (
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b4f2a]",
    "",
    "goroutine 1 [running]:",
    "main.(*Gateway).Connect(0x0, {0xc0000b4000, 0x1f})",
    "\t/src/payment/gateway.go:57 +0x2a",
    "main.main()",
    "\t/src/payment/main.go:31 +0x1c5",
)


def _payment(rng: random.Random, ts: int) -> Lines:
    msg = rng.choice(("loading config", "connecting to gateway", "warming cache", "retrying"))
    return [("stdout", f'level=info ts={_iso(ts)} msg="{msg}"')]


def _loadgen(rng: random.Random, ts: int) -> Lines:
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


def _postgres(rng: random.Random, ts: int) -> Lines:
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


def _redis(rng: random.Random, ts: int) -> Lines:
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


def _etl(rng: random.Random, ts: int) -> Lines:
    if rng.random() < 0.02:
        # A record dump of about 20 KB: the runtime splits it into 16 KiB fragments.
        payload = {
            "level": "debug",
            "msg": "record dump",
            "rows": [_hex(rng, 60) for _ in range(320)],
        }
        return [("stdout", json.dumps(payload))]
    return [
        (
            "stdout",
            json.dumps(
                {
                    "level": "info",
                    "msg": "processed batch",
                    "batch": rng.randint(1, 9999),
                    "rows": rng.randint(100, 5000),
                }
            ),
        )
    ]


def _prometheus(rng: random.Random, ts: int) -> Lines:
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


def _reloader(rng: random.Random, ts: int) -> Lines:
    return [
        (
            "stdout",
            _klog(
                ts, "I", "reloader.go:372", "Reload triggered cfg_in=/etc/prometheus/prometheus.yml"
            ),
        )
    ]


def _grafana(rng: random.Random, ts: int) -> Lines:
    path = rng.choice(("/api/health", "/api/dashboards/uid/abc", "/api/ds/query"))
    return [
        (
            "stdout",
            f"logger=context userId=0 orgId=1 t={_iso(ts)} level=info "
            f'msg="Request Completed" method=GET path={path} status=200',
        )
    ]


def _coredns(rng: random.Random, ts: int) -> Lines:
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


def _kube_proxy(rng: random.Random, ts: int) -> Lines:
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


def _metrics_server(rng: random.Random, ts: int) -> Lines:
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


# -- the cluster ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    container: str
    rate: float  # lines per second
    gen: Generator
    docker: bool = False  # Docker json-file format instead of CRI
    zone_s: int | None = None  # CRI-O style: local time with this UTC offset


@dataclass(frozen=True, slots=True)
class _PodSpec:
    namespace: str
    name: str
    containers: tuple[_Spec, ...]
    start_s: float = 0.0
    end_s: float | None = None  # a Job: stops writing (completes) at this time
    delete_s: float | None = None  # the pod is deleted at this time
    crashloop: bool = False
    bursty: bool = False


_PODS = (
    _PodSpec(
        "shop",
        "frontend-6d8f7b9c4-x7k2p",
        (_Spec("web", 60, _web), _Spec("istio-proxy", 60, _envoy)),
        bursty=True,
    ),
    _PodSpec(
        "shop",
        "checkout-7f9d8c6b5-q2w3e",
        (_Spec("app", 20, _checkout), _Spec("istio-proxy", 20, _envoy)),
        bursty=True,
    ),
    _PodSpec("shop", "cart-5b6c7d8e9-r4t5y", (_Spec("app", 25, _cart),)),
    _PodSpec("shop", "payment-8c7b6a5d4-m9n8b", (_Spec("app", 10, _payment),), crashloop=True),
    _PodSpec("shop", "loadgen-6b5c4d3e2-z1x2c", (_Spec("loadgen", 15, _loadgen),), delete_s=390),
    _PodSpec("data", "postgres-0", (_Spec("postgres", 8, _postgres),)),
    _PodSpec("data", "redis-0", (_Spec("redis", 5, _redis, docker=True),)),
    _PodSpec("data", "etl-job-28734-bq9zt", (_Spec("etl", 20, _etl),), start_s=20, end_s=140),
    _PodSpec(
        "monitoring",
        "prometheus-0",
        (_Spec("prometheus", 6, _prometheus), _Spec("config-reloader", 0.5, _reloader)),
    ),
    _PodSpec("monitoring", "grafana-6f5d4c3b2-h8j7k", (_Spec("grafana", 10, _grafana),)),
    _PodSpec("kube-system", "coredns-5d78c9869d-8fk2m", (_Spec("coredns", 30, _coredns),)),
    _PodSpec(
        "kube-system", "kube-proxy-n7m6b", (_Spec("kube-proxy", 3, _kube_proxy, zone_s=7200),)
    ),
    _PodSpec(
        "kube-system",
        "metrics-server-7cd5d6c8b-2xqlp",
        (_Spec("metrics-server", 2, _metrics_server),),
    ),
)


@dataclass
class _Container:
    pod: _Pod
    spec: _Spec
    rng: random.Random
    next_ns: int  # when its next line is written
    restart: int = 0
    container_id: str = ""
    fd: int | None = None
    old_fd: int | None = None  # renamed file the runtime still writes to until it reopens
    size: int = 0
    running: bool = True
    crash_at_ns: int = 0
    restart_at_ns: int = 0

    @property
    def dir(self) -> Path:
        return self.pod.dir / self.spec.container

    @property
    def link(self) -> Path:
        p = self.pod
        return (
            p.root
            / "containers"
            / (f"{p.spec.name}_{p.spec.namespace}_{self.spec.container}-{self.container_id}.log")
        )


@dataclass
class _Pod:
    spec: _PodSpec
    root: Path
    uid: str
    containers: list[_Container] = field(default_factory=list)
    deleted: bool = False

    @property
    def dir(self) -> Path:
        return self.root / "pods" / f"{self.spec.namespace}_{self.spec.name}_{self.uid}"


class DemoCluster:
    """Writes a synthetic cluster's container logs under root, kubelet-style.

    Args:
        root: directory to write ``pods/`` and ``containers/`` into (created).
        seed: makes every name, id, line and event reproducible.
        speed: simulated seconds per real second in `run_for` / `start`.
        start_ns: simulated clock at start (UTC ns); default: now. For a history
            that ends now, start at ``now - minutes`` and call `prefill`.
        rate_scale: multiplies every container's line rate (about 300 lines/s at 1).
        rotate_bytes: a live file this big is rotated at the next 10 s check.
    """

    def __init__(
        self,
        root: Path,
        seed: int = 1,
        speed: float = 1.0,
        start_ns: int | None = None,
        rate_scale: float = 1.0,
        rotate_bytes: int = 2 << 20,
    ) -> None:
        self.root = Path(root)
        self.speed = speed
        self.rate_scale = rate_scale
        self.rotate_bytes = rotate_bytes
        self.start_ns = time.time_ns() if start_ns is None else start_ns
        self.now_ns = self.start_ns
        self.lines_written = 0
        self.events: list[tuple[int, str]] = []  # (simulated ns, what happened), for tests
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        (self.root / "pods").mkdir(parents=True, exist_ok=True)
        (self.root / "containers").mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed)
        self._pods: list[_Pod] = []
        for spec in _PODS:
            pod = _Pod(spec, self.root, _uid(rng))
            for cs in spec.containers:
                crng = random.Random(f"{seed}/{spec.namespace}/{spec.name}/{cs.container}")
                c = _Container(pod, cs, crng, self.start_ns + int(spec.start_s * _NS))
                c.running = spec.start_s == 0
                pod.containers.append(c)
            self._pods.append(pod)
        for pod in self._pods:
            for c in pod.containers:
                if c.running:
                    self._start_container(c, self.start_ns)

    # -- driving ------------------------------------------------------------------------

    def step(self, seconds: float) -> int:
        """Advance the simulated clock, writing every line and event on the way.

        Returns:
            The number of lines written.
        """
        with self._lock:
            before = self.lines_written
            end = self.now_ns + int(seconds * _NS)
            while self.now_ns < end:
                # Whole simulated seconds at most, cut at second boundaries, where the
                # lifecycle checks run: the outcome does not depend on the step sizes.
                boundary = (self.now_ns // _NS + 1) * _NS
                upto = min(end, boundary)
                self._write_lines(upto)
                self.now_ns = upto
                if upto == boundary:
                    self._lifecycle(upto)
            return self.lines_written - before

    def prefill(self, minutes: float) -> int:
        """Write `minutes` of history at once, without sleeping (see `start_ns`)."""
        return self.step(minutes * 60)

    def run_for(self, seconds: float) -> None:
        """Write in real time (times `speed`) for `seconds` of wall-clock time."""
        deadline = time.monotonic() + seconds
        last = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            self._stop.wait(min(0.05, deadline - now))
            now = time.monotonic()
            self.step((now - last) * self.speed)
            last = now

    def start(self) -> None:
        """Write in real time on a background thread until `stop`."""
        self._thread = threading.Thread(
            target=self.run_for, args=(float("inf"),), name="klogtui-demo", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (if any) and close every file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for pod in self._pods:
                for c in pod.containers:
                    self._close(c)

    # -- lines ----------------------------------------------------------------------------

    def _rate(self, c: _Container, ts: int) -> float:
        rate = c.spec.rate * self.rate_scale
        if c.pod.spec.bursty:
            # A burst of five times the traffic for 3 s out of every 45 s.
            phase = ((ts - self.start_ns) // _NS + zlib.crc32(c.pod.spec.name.encode())) % 45
            if phase < 3:
                rate *= 5
        return max(rate, 1e-6)

    def _write_lines(self, upto: int) -> None:
        for pod in self._pods:
            if pod.deleted:
                continue
            for c in pod.containers:
                if not c.running:
                    continue
                out: list[bytes] = []
                while c.next_ns < upto:
                    ts = c.next_ns
                    for i, (stream, text) in enumerate(c.spec.gen(c.rng, ts)):
                        out.append(self._format(c, ts + i * 1000, stream, text))
                    c.next_ns = ts + max(1000, int(c.rng.expovariate(self._rate(c, ts)) * _NS))
                if out:
                    self._append(c, b"".join(out))
                    self.lines_written += len(out)

    def _format(self, c: _Container, ts: int, stream: str, text: str) -> bytes:
        if c.spec.docker:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // _NS))
            obj = {"log": text + "\n", "stream": stream, "time": f"{stamp}.{ts % _NS:09d}Z"}
            return json.dumps(obj).encode() + b"\n"
        if c.spec.zone_s is not None:
            z = c.spec.zone_s
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // _NS + z))
            zone = f"{'+' if z >= 0 else '-'}{abs(z) // 3600:02d}:{abs(z) % 3600 // 60:02d}"
            head = f"{stamp}.{ts % _NS:09d}{zone} {stream} ".encode()
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // _NS))
            frac = f"{ts % _NS:09d}".rstrip("0")
            head = f"{stamp}{'.' + frac if frac else ''}Z {stream} ".encode()
        data = text.encode()
        if len(data) <= _CRI_MAX:
            return head + b"F " + data + b"\n"
        parts = [data[i : i + _CRI_MAX] for i in range(0, len(data), _CRI_MAX)]
        return b"".join(
            head + (b"F " if i == len(parts) - 1 else b"P ") + p + b"\n"
            for i, p in enumerate(parts)
        )

    def _append(self, c: _Container, data: bytes) -> None:
        if c.old_fd is not None:
            # The runtime writes to the renamed file until it reopens: one more write.
            os.write(c.old_fd, data)
            os.close(c.old_fd)
            c.old_fd = None
            return
        if c.fd is None:
            return
        os.write(c.fd, data)
        c.size += len(data)

    # -- lifecycle ------------------------------------------------------------------------

    def _log_path(self, c: _Container) -> Path:
        return c.dir / f"{c.restart}.log"

    def _start_container(self, c: _Container, ts: int) -> None:
        c.dir.mkdir(parents=True, exist_ok=True)
        c.container_id = _hex(c.rng, 64)
        c.fd = os.open(self._log_path(c), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        c.size = 0
        c.running = True
        c.next_ns = ts
        os.symlink(self._log_path(c), c.link)
        if c.pod.spec.crashloop:
            c.crash_at_ns = ts + int(c.rng.uniform(6, 15) * _NS)
        self.events.append((ts, f"start {c.pod.spec.name}/{c.spec.container}#{c.restart}"))

    def _close(self, c: _Container) -> None:
        for fd in (c.fd, c.old_fd):
            if fd is not None:
                os.close(fd)
        c.fd = c.old_fd = None

    def _lifecycle(self, ts: int) -> None:
        elapsed_s = (ts - self.start_ns) // _NS
        for pod in self._pods:
            if pod.deleted:
                continue
            spec = pod.spec
            if spec.delete_s is not None and elapsed_s >= spec.delete_s:
                self._delete(pod, ts)
                continue
            for c in pod.containers:
                if (
                    not c.running
                    and spec.start_s <= elapsed_s
                    and c.restart_at_ns == 0
                    and (spec.end_s is None or elapsed_s < spec.end_s)
                    and c.fd is None
                    and not spec.crashloop
                ):
                    self._start_container(c, ts)
                if c.running and spec.end_s is not None and elapsed_s >= spec.end_s:
                    self._append(
                        c, self._format(c, ts, "stdout", '{"level":"info","msg":"job complete"}')
                    )
                    self.lines_written += 1
                    c.running = False
                    self._close(c)
                    self.events.append((ts, f"complete {spec.name}/{c.spec.container}"))
                if spec.crashloop:
                    self._crashloop(c, ts)
                if c.running and elapsed_s % _ROTATE_CHECK_S == 0 and c.size >= self.rotate_bytes:
                    self._rotate(c, ts)

    def _crashloop(self, c: _Container, ts: int) -> None:
        if c.running and ts >= c.crash_at_ns:
            data = b"".join(
                self._format(c, ts + i * 1000, "stderr", line) for i, line in enumerate(_GO_PANIC)
            )
            self._append(c, data)
            self.lines_written += len(_GO_PANIC)
            c.running = False
            self._close(c)
            backoff = _CRASH_BACKOFF_S[min(c.restart, len(_CRASH_BACKOFF_S) - 1)]
            c.restart_at_ns = ts + backoff * _NS
            self.events.append((ts, f"crash {c.pod.spec.name}/{c.spec.container}#{c.restart}"))
        elif not c.running and c.restart_at_ns and ts >= c.restart_at_ns:
            c.restart_at_ns = 0
            # Kubelet keeps the log of the last dead instance only.
            old = c.restart - 1
            if old >= 0:
                for f in c.dir.glob(f"{old}.log*"):
                    f.unlink()
            for link in c.pod.root.joinpath("containers").glob(
                f"{c.pod.spec.name}_{c.pod.spec.namespace}_{c.spec.container}-*.log"
            ):
                if os.readlink(link).endswith(f"/{old}.log"):
                    link.unlink()
            c.restart += 1
            self._start_container(c, ts)

    def _rotate(self, c: _Container, ts: int) -> None:
        live = self._log_path(c)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(ts // _NS))
        os.rename(live, live.with_name(f"{live.name}.{stamp}"))
        c.old_fd = c.fd
        c.fd = os.open(live, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        c.size = 0
        self.events.append((ts, f"rotate {c.pod.spec.name}/{c.spec.container}#{c.restart}"))
        rotated = sorted(c.dir.glob(f"{c.restart}.log.*-*"), key=lambda p: p.name)
        plain = [p for p in rotated if not p.name.endswith(".gz")]
        # Kubelet compresses every rotation but the newest (which may still be written).
        for p in plain[:-1]:
            tmp = p.with_name(p.name + ".tmp")  # kubelet: <log>.tmp, renamed to <log>.gz
            with open(p, "rb") as src, gzip.open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.rename(tmp, p.with_name(p.name + ".gz"))
            p.unlink()
        rotated = sorted(c.dir.glob(f"{c.restart}.log.*-*"), key=lambda p: p.name)
        for p in rotated[: max(0, len(rotated) - (_MAX_FILES - 1))]:
            p.unlink()

    def _delete(self, pod: _Pod, ts: int) -> None:
        for c in pod.containers:
            self._close(c)
            c.running = False
            for link in pod.root.joinpath("containers").glob(
                f"{pod.spec.name}_{pod.spec.namespace}_{c.spec.container}-*.log"
            ):
                link.unlink()
        shutil.rmtree(pod.dir, ignore_errors=True)
        pod.deleted = True
        self.events.append((ts, f"delete {pod.spec.name}"))
