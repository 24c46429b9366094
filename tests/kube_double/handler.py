"""The double's request handler: routing and the bearer-token check, and the namespaces list."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.kube_double.logs import LogEndpoint
from tests.kube_double.pods import PodEndpoints
from tests.kube_double.responder import status

__all__ = ["Handler"]


class Handler(PodEndpoints, LogEndpoint):
    """One connection's requests: every verb logged, GETs checked and routed."""

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
        if cluster.token is not None:
            if self.headers.get("Authorization") != f"Bearer {cluster.token}":
                self._json(401, status(401, "Unauthorized", "Unauthorized"))
                return
        try:
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
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", path)
            if m:
                self._log(m[1], m[2], query)
                return
            self._json(
                404, status(404, "NotFound", "the server could not find the requested resource")
            )
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

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
