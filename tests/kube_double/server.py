"""The double's HTTP(S) server on 127.0.0.1 around a `FakeCluster`, and kubeconfigs for it."""

from __future__ import annotations

import json
import os
import ssl
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.kube_double.cluster import FakeCluster
from tests.kube_double.handler import Handler
from tests.kube_double.tls import double_ca

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
        tls: serve HTTPS with a certificate of the process's test CA (`double_ca`); a
            client certificate of that CA whose CN is in `cluster.cert_users` is a login.
    """

    def __init__(self, cluster: FakeCluster | None = None, tls: bool = False) -> None:
        self.cluster = cluster or FakeCluster()
        self._server = DoubleServer(("127.0.0.1", 0), Handler)
        self._server.cluster = self.cluster
        self.ca_file: Path | None = None
        if tls:
            ca = double_ca()
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(ca.server_cert, ca.server_key)
            ctx.load_verify_locations(ca.cert)
            ctx.verify_mode = ssl.CERT_OPTIONAL
            self._server.socket = ctx.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            self.ca_file = ca.cert
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-double",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET socket's name; never bytes
        return f"{'https' if self.ca_file else 'http'}://{host}:{port}"

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
        user: dict[str, Any] | None = None,
    ) -> Path:
        """Write a kubeconfig pointing at this server; returns its path.

        Args:
            user: the user entry (exec, tokenFile, ...) instead of the cluster's token.
        """
        cluster: dict[str, Any] = {"server": self.url}
        if self.ca_file is not None:
            cluster["certificate-authority"] = str(self.ca_file)
        return write_kubeconfig(
            path,
            self.url,
            token if token is not None else self.cluster.token or "",
            namespace=namespace,
            context=context,
            user=user,
            cluster=cluster,
        )


def write_kubeconfig(
    path: Path | str,
    server: str,
    token: str,
    namespace: str = "default",
    context: str = "double",
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
) -> Path:
    """Write a kubeconfig (JSON is YAML) with one cluster, user and context."""
    if user is None:
        user = {"token": token} if token else {}
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": cluster or {"server": server}}],
        "users": [{"name": "tester", "user": user}],
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
