"""A cluster of collectors for remote proxy mode's tests: real `klogtui collect --listen`
nodes, each with its own log tree and store, registered in the API double as the pods
deploy/'s DaemonSet makes (label, port `api`), reached through its pod proxy."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from tests.api_node import ApiNode
from tests.helpers_files import lines
from tests.kube_double import KubeDouble

__all__ = ["COLLECTOR_LABELS", "NS", "Cluster", "Follower", "run_klogtui"]

NS = "klogtui"
COLLECTOR_LABELS = {
    "app.kubernetes.io/name": "klogtui",
    "app.kubernetes.io/component": "collector",
}
RUN_S = 120.0


class Cluster:
    """Nodes node-0, node-1, ... each running a collector pod `collector-N`."""

    def __init__(
        self, root: Path, double: KubeDouble, count: int, env: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.double = double
        kubeconfig = double.kubeconfig(root / "collector-kubeconfig")
        self.nodes = [
            ApiNode(
                root / f"node-{i}", "--kubeconfig", str(kubeconfig), "--node", f"node-{i}", env=env
            )
            for i in range(count)
        ]

    def write(self, node: int, ns_pod: str, seqs: Iterable[int]) -> None:
        ns, pod = ns_pod.split("/")
        self.nodes[node].container(ns, pod).append(lines(seqs))

    def start(self) -> Cluster:
        for n in self.nodes:
            n.start()
        for i in range(len(self.nodes)):
            self.register(i)
        for n in self.nodes:
            n.wait_ready()
        return self

    def register(self, i: int, start: bool = True) -> None:
        """The collector pod of node i, as the DaemonSet makes it."""
        cluster = self.double.cluster
        cluster.add_pod(
            NS,
            f"collector-{i}",
            ("collector",),
            labels=COLLECTOR_LABELS,
            node=f"node-{i}",
            start=start,
            ports={"api": self.nodes[i].port},
        )
        with cluster.lock:
            cluster.pod_hosts[(NS, f"collector-{i}")] = "127.0.0.1"

    def kubeconfig(self, user: str, token: str | None) -> Path:
        """A reader's kubeconfig (token None: a user entry without any token)."""
        path = self.root / f"kubeconfig-{user}"
        if token is None:
            return self.double.kubeconfig(path, user={"username": user})
        return self.double.kubeconfig(path, token=token)

    def local_jsonl(self, query: str = "") -> list[str]:
        """Every node's store read locally (`query -o jsonl --limit 0`), merged by time."""
        out: list[str] = []
        for n in self.nodes:
            done = run_klogtui("query", "--db", str(n.db), "-o", "jsonl", "--limit", "0", query)
            assert done.returncode == 0, done.stderr
            out += done.stdout.splitlines()
        return sorted(out, key=lambda x: json.loads(x)["ts"])

    def close(self) -> None:
        for n in self.nodes:
            n.kill()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_klogtui(*args: str, timeout: float = RUN_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


class Follower:
    """`klogtui query --collectors -f` running, its output read line by line."""

    def __init__(self, kubeconfig: Path, *args: str) -> None:
        self.args = ["query", "--kubeconfig", str(kubeconfig), "--collectors", "-f", *args]
        self.out: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Follower:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "klogtui", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        threading.Thread(target=self._drain_out, daemon=True).start()
        threading.Thread(target=self._drain_err, daemon=True).start()
        return self

    def _drain_out(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.put(line.rstrip("\n"))

    def _drain_err(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def take(self, n: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while len(got) < n:
            try:
                got.append(self.out.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"only {got} after {timeout} s: {self.err}") from None
        return got

    def wait_stderr(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in x for x in self.err):
            assert time.monotonic() < deadline, f"{text!r} never said: {self.err}"
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(RUN_S)
