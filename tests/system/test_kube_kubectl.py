"""The real `kubectl` against the API double over HTTPS: proof that the double speaks
the protocol remote mode is tested with (discovery, list, watch, one pod, logs).

kubectl sends its bearer token only over TLS and checks the server against the
kubeconfig's certificate-authority, so the double serves HTTPS with a test CA.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube_double import FakeCluster, KubeDouble
from tests.kube_double.workloads import add_owned_pod

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(FakeCluster(), tls=True) as d:
        d.cluster.add_pod("shop", "web-1")
        d.cluster.emit("shop", "web-1", "app", 3, "a")
        yield d


def kubectl_args(double: KubeDouble, tmp_path: Path, *args: str) -> list[str]:
    kubeconfig = double.kubeconfig(tmp_path / "config", namespace="shop")
    assert KUBECTL is not None
    return [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]


class Lines:
    """A running kubectl's stdout, line by line, with a deadline on each wait."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))

    def take(self, n: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        return [self._lines.get(timeout=max(0.01, deadline - time.monotonic())) for _ in range(n)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)


def test_kubectl_get_pods_lists_them(double: KubeDouble, tmp_path: Path) -> None:
    double.cluster.add_pod("shop", "web-2")
    double.cluster.add_pod("other", "db-0")
    out = subprocess.run(
        kubectl_args(double, tmp_path, "get", "pods", "-A", "-o", "name"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.splitlines() == ["pod/db-0", "pod/web-1", "pod/web-2"]
    # It authenticated with the token over TLS and read discovery first.
    paths = [p for p, _ in double.cluster.requests]
    assert {"/api", "/apis"} <= set(paths)


def test_kubectl_get_pods_watch_sees_a_new_pod(double: KubeDouble, tmp_path: Path) -> None:
    watch = Lines(kubectl_args(double, tmp_path, "get", "pods", "-w", "-o", "name"))
    try:
        assert watch.take(1) == ["pod/web-1"]
        double.cluster.add_pod("shop", "web-2")
        assert watch.take(1) == ["pod/web-2"]
    finally:
        watch.stop()


def test_kubectl_logs_follow_gets_every_line(double: KubeDouble, tmp_path: Path) -> None:
    logs = Lines(kubectl_args(double, tmp_path, "logs", "-f", "web-1"))
    try:
        assert logs.take(3) == [f"a seq={k}" for k in range(3)]
        double.cluster.emit("shop", "web-1", "app", 2, "b")
        assert logs.take(2) == ["b seq=3", "b seq=4"]
    finally:
        logs.stop()


def test_kubectl_gets_workloads_and_pods_of_a_node(double: KubeDouble, tmp_path: Path) -> None:
    c = double.cluster
    add_owned_pod(c, "shop", "web-6b9-x2", [("Deployment", "web"), ("ReplicaSet", "web-6b9")])
    add_owned_pod(c, "shop", "db-0", [("StatefulSet", "db")], node="node-2")
    add_owned_pod(c, "shop", "r-29-a", [("CronJob", "r"), ("Job", "r-29")], node="node-2")

    def kubectl(*args: str) -> list[str]:
        run = subprocess.run(
            kubectl_args(double, tmp_path, *args),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return run.stdout.splitlines()

    assert kubectl("get", "deployments,replicasets,statefulsets,jobs,cronjobs", "-o", "name") == [
        "deployment.apps/web",
        "replicaset.apps/web-6b9",
        "statefulset.apps/db",
        "job.batch/r-29",
        "cronjob.batch/r",
    ]
    on_node_2 = kubectl(
        "get", "pods", "-A", "--field-selector", "spec.nodeName=node-2", "-o", "name"
    )
    assert on_node_2 == ["pod/db-0", "pod/r-29-a"]
    owner = kubectl(
        "get", "pod", "web-6b9-x2", "-o", "jsonpath={.metadata.ownerReferences[0].name}"
    )
    assert owner == ["web-6b9"]
