"""The double's HTTP server on 127.0.0.1 around a `FakeCluster`, and kubeconfigs for it."""

from __future__ import annotations

import json
import os
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.kube_double.cluster import FakeCluster
from tests.kube_double.handler import Handler

__all__ = ["DoubleServer", "KubeDouble", "write_kubeconfig"]


class DoubleServer(ThreadingHTTPServer):
    """A thread per connection (streams stay open), sharing one `FakeCluster`."""

    daemon_threads = True
    allow_reuse_address = True
    # Enough for hundreds of concurrent streams connecting at once.
    request_queue_size = 1024
    cluster: FakeCluster

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on streams all the time (that is half of what we test).
        pass


class KubeDouble:
    """The HTTP server around a FakeCluster; use as a context manager.

    Args:
        cluster: the state to serve (a fresh one by default).
    """

    def __init__(self, cluster: FakeCluster | None = None) -> None:
        self.cluster = cluster or FakeCluster()
        self._server = DoubleServer(("127.0.0.1", 0), Handler)
        self._server.cluster = self.cluster
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-double",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> KubeDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.cluster.lock:
            self.cluster.stopped = True
            self.cluster.wake_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> KubeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(
        self,
        path: Path | str,
        token: str | None = None,
        namespace: str = "default",
        context: str = "double",
    ) -> Path:
        """Write a kubeconfig pointing at this server; returns its path."""
        return write_kubeconfig(
            path,
            self.url,
            token if token is not None else self.cluster.token or "",
            namespace=namespace,
            context=context,
        )


def write_kubeconfig(
    path: Path | str, server: str, token: str, namespace: str = "default", context: str = "double"
) -> Path:
    """Write a kubeconfig (JSON is YAML) with one cluster, user and context."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": token} if token else {}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": "double", "user": "tester", "namespace": namespace},
            }
        ],
        "current-context": context,
    }
    p = Path(path)
    p.write_text(json.dumps(cfg, indent=1))
    os.chmod(p, 0o600)
    return p
