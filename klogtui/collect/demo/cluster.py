"""The demo cluster: a simulated clock driving its pods, written as kubelet-style files.

`DemoCluster` lays out ``<root>/pods/<ns>_<pod>_<uid>/<container>/<n>.log`` and
``<root>/containers/*.log`` links exactly as kubelet does: CRI lines (16 KiB ``P``
fragments), Docker json-file and zoned CRI-O timestamps; rotation of big files
(rename, the runtime still writing to the old file until it reopens, gzip of older
rotations via ``.tmp``, oldest removed); a CrashLoop pod restarting with back-off;
a Job that completes; a pod deleted after a while. Deterministic given the seed and
start time (see the package docstring).
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
from dataclasses import dataclass, field
from pathlib import Path

from klogtui.collect.demo.ids import random_hex, random_uid
from klogtui.collect.demo.messages import GO_PANIC
from klogtui.collect.demo.pods import PODS, ContainerSpec, PodSpec
from klogtui.collect.pod_meta import PodMeta

__all__ = ["DemoCluster"]

_NS = 1_000_000_000
_CRI_MAX = 16384  # containerd splits longer lines into P fragments
_ROTATE_CHECK_S = 10  # kubelet checks sizes every 10 s
_MAX_FILES = 5  # kubelet's containerLogMaxFiles: the live file and 4 rotated
_CRASH_BACKOFF_S = (10, 20, 40, 80, 160, 300)


@dataclass
class _Container:
    pod: _Pod
    spec: ContainerSpec
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
    spec: PodSpec
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
        for spec in PODS:
            pod = _Pod(spec, self.root, random_uid(rng))
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

    def pod_metas(self) -> list[PodMeta]:
        """What the API would say of the pods: an `app` label and the owning workload."""
        metas = []
        for pod in self._pods:
            spec = pod.spec
            workload = spec.workload or spec.name
            metas.append(
                PodMeta(
                    pod.uid,
                    spec.namespace,
                    spec.name,
                    {"app": workload},
                    spec.workload_kind,
                    workload,
                )
            )
        return metas

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
        c.container_id = random_hex(c.rng, 64)
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
                self._format(c, ts + i * 1000, "stderr", line) for i, line in enumerate(GO_PANIC)
            )
            self._append(c, data)
            self.lines_written += len(GO_PANIC)
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
