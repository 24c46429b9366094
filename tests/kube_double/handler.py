"""The double's request handler: TLS handshake, authentication (bearer token or client
certificate), throttling (429 with Retry-After), routing, and the namespaces list."""

from __future__ import annotations

import re
import ssl
import time
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from tests.kube_double.auth import AuthEndpoints
from tests.kube_double.discovery import DiscoveryEndpoints
from tests.kube_double.logs import LogEndpoint
from tests.kube_double.pods import PodEndpoints
from tests.kube_double.proxy import ProxyEndpoint
from tests.kube_double.responder import status
from tests.kube_double.workloads import WorkloadEndpoints

__all__ = ["Handler"]


class Handler(
    PodEndpoints, LogEndpoint, DiscoveryEndpoints, WorkloadEndpoints, AuthEndpoints, ProxyEndpoint
):
    """One connection's requests: every verb logged, GETs checked and routed."""

    def setup(self) -> None:
        # The handshake runs here, on the connection's thread, so a slow client does
        # not hold up the server's accept loop.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def _authenticated(self) -> bool:
        cluster = self.server.cluster
        if cluster.token is None:
            return True
        bearer = self.headers.get("Authorization") or ""
        if bearer == f"Bearer {cluster.token}":
            return True
        if bearer.startswith("Bearer ") and cluster.users.by_token(bearer[7:]) is not None:
            return True
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert() or {}
            # The stub gives every field the same union of shapes; "subject" is the
            # certificate's RDNs, each a tuple of (key, value) pairs.
            subject = cast("tuple[tuple[tuple[str, str], ...], ...]", cert.get("subject", ()))
            names = [v for rdn in subject for k, v in rdn if k == "commonName"]
            return any(n in cluster.cert_users for n in names)
        return False

    def _throttled(self, path: str, query: dict[str, list[str]]) -> bool:
        """Answer 429 Too Many Requests if a throttle set by the test matches."""
        cluster = self.server.cluster
        with cluster.cond:
            throttle = next((t for t in cluster.throttles if t.matches(path, query)), None)
            if throttle is None:
                return False
            throttle.remaining -= 1
            if throttle.remaining <= 0:
                cluster.throttles.remove(throttle)
            cluster.throttled.append((time.monotonic(), path, query))
        body = status(429, "TooManyRequests", "Too many requests, please try again later.")
        headers = {} if throttle.retry_after is None else {"Retry-After": throttle.retry_after}
        self._json(429, body, headers)
        return True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def parse_request(self) -> bool:
        # Every verb is logged, also those the double does not serve (they get 501).
        ok = super().parse_request()
        if ok:
            with self.server.cluster.cond:
                self.server.cluster.methods.append((self.command, self.path))
        return ok

    # -- routing --------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        cluster = self.server.cluster
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path.rstrip("/")
        with cluster.cond:
            cluster.requests.append((path, query))
            cluster.request_times.append(time.monotonic())
        if not self._authenticated():
            self._json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        try:
            if (
                self._proxy(self.path)
                or self._throttled(path, query)
                or self._discovery(path)
                or self._workloads(path)
            ):
                return
            if path == "/api/v1/namespaces":
                self._namespaces()
                return
            if path == "/api/v1/pods":
                self._pods(None, query)
                return
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path)
            if m:
                self._pods(m[1], query)
                return
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)", path)
            if m:
                self._pod(m[1], m[2])
                return
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", path)
            if m:
                self._log(m[1], m[2], query)
                return
            self._json(
                404, status(404, "NotFound", "the server could not find the requested resource")
            )
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        path = urlsplit(self.path).path.rstrip("/")
        if not self._authenticated():
            self._json(401, status(401, "Unauthorized", "Unauthorized"))
        elif not self._reviews(path):
            self._json(405, status(405, "MethodNotAllowed", f"POST is not served at {path}"))

    def _namespaces(self) -> None:
        cluster = self.server.cluster
        if cluster.forbid_namespace_list:
            self._json(
                403,
                status(
                    403,
                    "Forbidden",
                    "namespaces is forbidden: User "
                    '"system:serviceaccount:test:klogtui" cannot list '
                    'resource "namespaces" in API group "" at the cluster '
                    "scope",
                ),
            )
            return
        with cluster.cond:
            items = [
                {
                    "kind": "Namespace",
                    "apiVersion": "v1",
                    "metadata": {"name": ns, "uid": ns},
                    "status": {"phase": "Active"},
                }
                for ns in cluster.namespaces
            ]
            rv = cluster.rv
        self._json(
            200,
            {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
        )
