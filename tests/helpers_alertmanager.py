"""A real Prometheus Alertmanager for tests, with a webhook sink that records what it
would deliver, and a `klogtui collect` process with alert rules to point at it.

The Debian package `prometheus-alertmanager` provides the binary (.ci/run installs
it); tests skip, saying so, only when it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.net import free_port
from tests.waiting import wait_for

BINARY = "prometheus-alertmanager"


@dataclass(frozen=True)
class Notification:
    """One webhook call from Alertmanager: one alert of it (we group by alertname)."""

    status: str  # "firing" / "resolved" (of the alert)
    alertname: str
    starts_at: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str


class Sink:
    """The webhook receiver Alertmanager delivers to: every notification, in order."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with sink._lock:
                    for a in body["alerts"]:
                        sink.notifications.append(
                            Notification(
                                a["status"],
                                a["labels"]["alertname"],
                                a["startsAt"],
                                a["labels"],
                                a["annotations"],
                                a["generatorURL"],
                            )
                        )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def of(self, alertname: str) -> list[Notification]:
        with self._lock:
            return [n for n in self.notifications if n.alertname == alertname]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Alertmanager:
    """prometheus-alertmanager on 127.0.0.1 (no cluster port), storage in a temp dir."""

    def __init__(self, workdir: Path, sink: Sink) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._config = workdir / "alertmanager.yml"
        # Group per alert, notify at once, never repeat on a timer: every webhook call
        # is a change (fired, resolved) or a duplicate the tests look for.
        self._config.write_text(
            "route:\n"
            "  receiver: sink\n"
            "  group_by: ['alertname']\n"
            "  group_wait: 0s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 24h\n"
            "receivers:\n"
            "- name: sink\n"
            "  webhook_configs:\n"
            f"  - url: {sink.url}\n"
            "    send_resolved: true\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = open(self._dir / "alertmanager.log", "ab")  # noqa: SIM115 - the child keeps it
        self._proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={self._config}",
                f"--storage.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        wait_for(self._ready, 30, "Alertmanager's /-/ready")

    def _ready(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            log = (self._dir / "alertmanager.log").read_text()[-2000:]
            raise AssertionError(f"Alertmanager exited {self._proc.returncode}:\n{log}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def alerts(self, alertname: str | None = None) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds as active (optionally of one name)."""
        query = ""
        if alertname is not None:
            query = "?" + urllib.parse.urlencode({"filter": f'alertname="{alertname}"'})
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts{query}", timeout=5) as r:
            alerts: list[dict[str, Any]] = json.loads(r.read())
        return [a for a in alerts if a["status"]["state"] == "active"]

    def active(self, alertname: str) -> dict[str, Any] | None:
        found = self.alerts(alertname)
        return found[0] if found else None


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[Alertmanager, Sink]]:
    """A started Alertmanager delivering to a Sink; both stopped after the test."""
    if shutil.which(BINARY) is None:
        pytest.skip(
            f"{BINARY} is not installed (apt-get install prometheus-alertmanager; "
            ".ci/run installs it)"
        )
    sink = Sink()
    am = Alertmanager(tmp_path / "alertmanager", sink)
    try:
        yield am, sink
    finally:
        am.stop()
        sink.close()


def cri_now(text: str, stream: str = "stdout") -> bytes:
    """A CRI log line stamped now."""
    ts = time.time_ns()
    secs, ns = divmod(ts, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns:09d}Z"
    return f"{stamp} {stream} F {text}\n".encode()


class Collector:
    """`klogtui collect` with a config file of alert rules, on a kubelet log dir."""

    def __init__(self, tmp: Path, rules: str, am_url: str | None) -> None:
        self.log_dir = tmp / "logs"
        self.db = tmp / "store.db"
        self.config_home = tmp / "config"
        (self.config_home / "klogtui").mkdir(parents=True, exist_ok=True)
        head = f'alertmanager = "{am_url}"\n' if am_url else ""
        (self.config_home / "klogtui" / "config.toml").write_text(
            head + 'alert_resend = "1s"\n' + rules
        )
        self.container = self.log_dir / "pods" / "shop_checkout-7f9_uid-1" / "app"
        self.container.mkdir(parents=True, exist_ok=True)
        self.log = tmp / "collect.stderr"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "XDG_CONFIG_HOME": str(self.config_home)}
        err = open(self.log, "ab")  # noqa: SIM115 - the child keeps it
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "klogtui", "collect"]
            + ["--log-dir", str(self.log_dir), "--db", str(self.db)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        err.close()

    def write(self, text: str) -> None:
        with open(self.container / "0.log", "ab") as f:
            f.write(cri_now(text))

    def kill9(self) -> None:
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait()

    def stop(self) -> int:
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        code = self._proc.returncode
        self._proc = None
        return code

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stderr(self) -> str:
        return self.log.read_text() if self.log.exists() else ""
