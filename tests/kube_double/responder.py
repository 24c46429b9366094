"""The HTTP plumbing every endpoint of the double uses.

JSON answers and Status objects, chunked streams (split into the cluster's chunk
size), a connection dropped mid-body, noticing a client that hung up, and the 403
an RBAC refusal gets.
"""

from __future__ import annotations

import json
import select
import socket
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.kube_double.server import DoubleServer

__all__ = ["Responder", "status"]


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A failure ``Status`` object, the body of every error answer."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class Responder(BaseHTTPRequestHandler):
    """A request handler's means of answering; the endpoints build on it."""

    protocol_version = "HTTP/1.1"
    server: DoubleServer

    def _json(self, code: int, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        if not data:
            return  # an empty chunk would end the body
        size = self.server.cluster.chunk_size or len(data)
        for i in range(0, len(data), size):
            part = data[i : i + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Drop the connection without ending the chunked body (a broken connection)."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _client_gone(self) -> bool:
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _forbidden(self, ns: str | None, resource: str, verb: str) -> bool:
        cluster = self.server.cluster
        if resource == "pods/log" and cluster.forbid_logs:
            where = f'in the namespace "{ns}"'
        elif ns is None and cluster.forbid_cluster_scope:
            where = "at the cluster scope"
        elif ns is not None and ns in cluster.forbidden_namespaces:
            where = f'in the namespace "{ns}"'
        else:
            return False
        msg = (
            f'{resource.split("/")[0]} is forbidden: User "system:serviceaccount:test:'
            f'klogtui" cannot {verb} resource "{resource}" in API group "" {where}'
        )
        self._json(403, status(403, "Forbidden", msg))
        return True
