"""Which collector pods a cluster runs, as deploy/ creates them: found by listing pods
in their namespace by label, each reached at its container port named `api`.

A pod that is not running and ready cannot answer: it is returned as a missing part of
every result, never left out without a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from klogtui.collect.kube.api import KubeApi

__all__ = [
    "API_PORT",
    "NAMESPACE",
    "SELECTOR",
    "Collector",
    "Found",
    "find_collectors",
]

NAMESPACE = "klogtui"  # deploy/namespace.yaml
SELECTOR = "app.kubernetes.io/name=klogtui,app.kubernetes.io/component=collector"
API_PORT = 7473  # deploy/daemonset.yaml's port `api`, used when a pod names none
_LIST_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Collector:
    """One collector pod: where its query API is, through the pod proxy."""

    namespace: str
    pod: str
    port: int
    node: str

    @property
    def name(self) -> str:
        """How messages name it: its node, and the pod that serves that node."""
        return f"{self.node} ({self.pod})" if self.node else self.pod

    def proxy_path(self, path: str) -> str:
        """The API server's path that reaches `path` on this pod's query API."""
        return (
            f"/api/v1/namespaces/{quote(self.namespace)}/pods/{quote(self.pod)}:{self.port}"
            f"/proxy{path}"
        )


@dataclass(frozen=True, slots=True)
class Found:
    """The collectors that can answer, and those that cannot with the reason."""

    ready: list[Collector]
    missing: list[tuple[str, str]]  # (name, why)


def _api_port(pod: dict[str, Any]) -> int:
    for container in pod.get("spec", {}).get("containers", []):
        for port in container.get("ports") or []:
            if port.get("name") == "api" and isinstance(port.get("containerPort"), int):
                return int(port["containerPort"])
    return API_PORT


def _not_ready(pod: dict[str, Any]) -> str | None:
    """Why the pod cannot answer yet, or None when it runs and is ready."""
    status = pod.get("status", {})
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "the pod is terminating"
    phase = status.get("phase", "Unknown")
    if phase != "Running":
        return f"the pod is {phase}"
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Ready") == "False":
        return "the pod is not ready"
    if not all(c.get("ready") for c in status.get("containerStatuses") or [{}]):
        return "the collector container is not ready"
    return None


def find_collectors(api: KubeApi, namespace: str, selector: str = SELECTOR) -> Found:
    """List the collector pods of `namespace`.

    Raises:
        KubeHTTPError, KubeConnError: the list failed (as `KubeApi.get_json`).
    """
    listing = api.get_json(
        f"/api/v1/namespaces/{quote(namespace)}/pods",
        [("labelSelector", selector)],
        _LIST_TIMEOUT_S,
    )
    ready: list[Collector] = []
    missing: list[tuple[str, str]] = []
    for pod in sorted(listing.get("items") or [], key=lambda p: p["metadata"]["name"]):
        collector = Collector(
            namespace,
            pod["metadata"]["name"],
            _api_port(pod),
            str(pod.get("spec", {}).get("nodeName") or ""),
        )
        why = _not_ready(pod)
        if why is None:
            ready.append(collector)
        else:
            missing.append((collector.name, why))
    return Found(ready, missing)
