"""The pod proxy, ``/api/v1/namespaces/NS/pods/POD:PORT/proxy/PATH``: a GET forwarded to
the address registered for that pod (`FakeCluster.pod_hosts`), its answer streamed back
as it arrives, as the API server does for `kubectl get --raw` and klogtui's reader.

Like the API server, the caller's Authorization header is not passed on, and a caller
without `get pods/proxy` in the namespace is refused with 403. A pod whose address does
not answer gets the API server's 503 ("error trying to reach service").
"""

from __future__ import annotations

import http.client
import re
from typing import TYPE_CHECKING

from tests.kube_double.auth import Users
from tests.kube_double.responder import Responder, status

if TYPE_CHECKING:
    from tests.kube_double.cluster import FakeCluster

__all__ = ["ProxyEndpoint"]

_ROUTE = re.compile(r"/api/v1/namespaces/([^/]+)/pods/([^/:]+)(?::(\d+))?/proxy(/.*)?")
_HOP = frozenset(
    {"authorization", "connection", "keep-alive", "transfer-encoding", "upgrade", "host"}
)


class ProxyEndpoint(Responder):
    def _proxy(self, raw_path: str) -> bool:
        """Forward a proxied GET; False if the path is not the pod proxy's."""
        path, _, query = raw_path.partition("?")
        m = _ROUTE.fullmatch(path)
        if m is None:
            return False
        ns, pod, port, rest = m[1], m[2], m[3] or "80", m[4] or "/"
        cluster: FakeCluster = self.server.cluster
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        user = cluster.users.by_token(token)
        if token != cluster.token and (
            user is None or not Users.allows(user, "get", "pods/proxy", ns)
        ):
            who = user.name if user is not None else "system:anonymous"
            self._json(
                403,
                status(
                    403,
                    "Forbidden",
                    f'pods "{pod}" is forbidden: User "{who}" cannot get resource "pods/proxy" '
                    f'in API group "" in the namespace "{ns}"',
                ),
            )
            return True
        with cluster.lock:
            host = cluster.pod_hosts.get((ns, pod))
        if host is None:
            self._json(404, status(404, "NotFound", f'pods "{pod}" not found'))
            return True
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            conn.request("GET", rest + (f"?{query}" if query else ""), headers=headers)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            self._json(
                503,
                status(
                    503,
                    "ServiceUnavailable",
                    f"error trying to reach service: dial tcp {host}:{port}: {e}",
                ),
            )
            return True
        try:
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                try:
                    data = resp.read1(1 << 16)
                except OSError:
                    self._abort()  # the pod went away mid-answer: so does the answer
                    return True
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self._end_stream()
        finally:
            conn.close()
        return True
