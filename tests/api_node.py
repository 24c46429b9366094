"""A node for the query API's tests: a kubelet-style log tree and a real
`klogtui collect --listen` process over it, with a small HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from klogtui.serve.server import announced_port
from tests.helpers_files import Container

__all__ = ["ApiNode", "Reply", "get"]

START_S = 60.0


class Reply:
    """One HTTP answer, read whole."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.body.decode().splitlines() if x]


def get(
    port: int,
    path: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        url = path + ("?" + urlencode(params) if params else "")
        conn.request("GET", url, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class ApiNode:
    """`klogtui collect --listen 127.0.0.1:0` over its own log tree and store.

    Args:
        root: a directory of its own (logs/ and store.db go there).
        extra: more arguments for `klogtui collect` (--kubeconfig ...).
    """

    def __init__(self, root: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.log_dir = root / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.db = root / "store.db"
        self.extra = extra
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.stderr: list[str] = []

    def container(self, namespace: str, pod: str, name: str = "app") -> Container:
        return Container(self.log_dir, namespace, pod, f"uid-{namespace}-{pod}", name)

    def start(self) -> ApiNode:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(self.log_dir)]
            + ["--db", str(self.db), "--listen", "127.0.0.1:0", *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        said: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(said,), daemon=True).start()
        deadline = time.monotonic() + START_S
        while not self.port:
            try:
                line = said.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no API address said: {self.stderr}") from None
            if (port := announced_port(line)) is not None:
                self.port = port
        return self

    def _drain(self, said: queue.Queue[str]) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            said.put(line)

    def get(
        self, path: str, params: dict[str, Any] | None = None, token: str | None = None
    ) -> Reply:
        headers = {} if token is None else {"X-Klogtui-Token": token}
        return get(self.port, path, params, headers)

    def wait_ready(self, timeout: float = START_S) -> None:
        deadline = time.monotonic() + timeout
        while self.get("/readyz").status != 200:
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.05)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(START_S)
        finally:
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(START_S)
            self.proc = None

    def __enter__(self) -> ApiNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
