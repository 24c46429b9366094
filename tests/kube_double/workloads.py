"""Workload objects: what a pod's ownerReferences point at, and their endpoints.

apps/v1 Deployments, ReplicaSets, StatefulSets and DaemonSets and batch/v1 Jobs and
CronJobs, each a JSON object with metadata (ownerReferences up the chain) and nothing
else the collector reads. Served by ``GET /apis/{group}/v1/namespaces/{ns}/{plural}``
(list) and ``.../{plural}/{name}`` (get), and cluster-wide lists; their discovery
documents (``/apis``, ``/apis/apps/v1``, ``/apis/batch/v1``) let `kubectl get` find
them. Tests build pods with owners through `add_owned_pod`, and refuse a resource with
`FakeCluster.forbidden_resources` (a 403 as RBAC words it).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from tests.kube_double.responder import Responder, status

if TYPE_CHECKING:
    from tests.kube_double.cluster import FakeCluster

__all__ = ["API_GROUPS", "KINDS", "WorkloadEndpoints", "add_owned_pod", "group_resources"]

# kind -> (API group, plural)
KINDS: dict[str, tuple[str, str]] = {
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
}
API_GROUPS = ("apps", "batch")
_PATH = re.compile(r"/apis/(apps|batch)/v1(?:/namespaces/([^/]+))?/([a-z]+)(?:/([^/]+))?")


def group_resources(group: str) -> list[dict[str, Any]]:
    """The APIResourceList entries of one group, for discovery."""
    return [
        {
            "name": plural,
            "singularName": kind.lower(),
            "namespaced": True,
            "kind": kind,
            "verbs": ["get", "list", "watch"],
            "categories": ["all"],
        }
        for kind, (g, plural) in KINDS.items()
        if g == group
    ]


def _object(kind: str, ns: str, name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    group, _ = KINDS[kind]
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": str(uuid.uuid4())}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return {"kind": kind, "apiVersion": f"{group}/v1", "metadata": meta}


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def add_owned_pod(
    cluster: FakeCluster,
    ns: str,
    pod: str,
    chain: list[tuple[str, str]],
    *,
    create: bool = True,
    **pod_args: Any,
) -> str:
    """Add a pod owned through `chain`, top first (e.g. [("Deployment", "web"),
    ("ReplicaSet", "web-7d9f8c6b5")]); the objects of the chain that do not exist yet
    are made, unless create=False (an owner already deleted). Returns the pod's uid."""
    owner: dict[str, Any] | None = None
    for kind, name in chain:
        key = (kind, ns, name)
        with cluster.cond:
            obj = cluster.workloads.get(key)
            if obj is None:
                obj = _object(kind, ns, name, owner)
                if create:
                    cluster.workloads[key] = obj
        owner = _ref(obj)
    return cluster.add_pod(ns, pod, owners=[owner] if owner else [], **pod_args)


class WorkloadEndpoints(Responder):
    """Answers the workload paths; returns False for any other path."""

    def _workloads(self, path: str) -> bool:
        m = _PATH.fullmatch(path)
        if m is None:
            return False
        group, ns, plural, name = m[1], m[2], m[3], m[4]
        kind = next((k for k, (g, p) in KINDS.items() if (g, p) == (group, plural)), None)
        if kind is None:
            self._json(404, status(404, "NotFound", "the server could not find the resource"))
            return True
        cluster = self.server.cluster
        if plural in cluster.forbidden_resources:
            where = "at the cluster scope" if ns is None else f'in the namespace "{ns}"'
            msg = (
                f'{plural} is forbidden: User "system:serviceaccount:test:klogtui" cannot '
                f'{"get" if name else "list"} resource "{plural}" in API group "{group}" {where}'
            )
            self._json(403, status(403, "Forbidden", msg))
            return True
        with cluster.cond:
            if name is not None and ns is not None:
                obj = cluster.workloads.get((kind, ns, name))
                items = None
            else:
                obj = None
                items = [
                    o
                    for (k, n, _), o in sorted(cluster.workloads.items())
                    if k == kind and (ns is None or n == ns)
                ]
            rv = cluster.rv
        if items is not None:
            meta = {"resourceVersion": str(rv)}
            self._json(
                200,
                {
                    "kind": f"{kind}List",
                    "apiVersion": f"{group}/v1",
                    "metadata": meta,
                    "items": items,
                },
            )
        elif obj is None:
            self._json(404, status(404, "NotFound", f'{plural}.{group} "{name}" not found'))
        else:
            self._json(200, obj)
        return True
