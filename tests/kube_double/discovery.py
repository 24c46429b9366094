"""Discovery, as `kubectl` asks for it before anything else: /version, /api, /apis, /api/v1.

The double serves the legacy (unaggregated) documents: kubectl asks for aggregated
discovery first and falls back to these when the answer is plain JSON. Only the
resources the double serves are listed: pods (get, list, watch), pods/log, namespaces,
and the workload kinds of apps/v1 and batch/v1 (workloads.py).
"""

from __future__ import annotations

from typing import Any

from tests.kube_double.responder import Responder
from tests.kube_double.workloads import API_GROUPS, group_resources

__all__ = ["DiscoveryEndpoints"]

_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-double",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_RESOURCES: list[dict[str, Any]] = [
    {
        "name": "namespaces",
        "singularName": "namespace",
        "namespaced": False,
        "kind": "Namespace",
        "verbs": ["get", "list"],
        "shortNames": ["ns"],
    },
    {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["po"],
        "categories": ["all"],
    },
    {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
]


class DiscoveryEndpoints(Responder):
    """Answers the discovery paths; returns False for any other path."""

    def _discovery(self, path: str) -> bool:
        if path == "/version":
            self._json(200, _VERSION)
        elif path == "/api":
            host, port = self.server.server_address[:2]
            assert isinstance(host, str)  # an AF_INET socket's name; never bytes
            self._json(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host}:{port}"}
                    ],
                },
            )
        elif path == "/apis":
            groups = [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"},
                }
                for g in API_GROUPS
            ]
            self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        elif path in (f"/apis/{g}/v1" for g in API_GROUPS):
            group = path.split("/")[2]
            self._json(
                200,
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": f"{group}/v1",
                    "resources": group_resources(group),
                },
            )
        elif path == "/api/v1":
            self._json(
                200,
                {"kind": "APIResourceList", "groupVersion": "v1", "resources": _RESOURCES},
            )
        else:
            return False
        return True
