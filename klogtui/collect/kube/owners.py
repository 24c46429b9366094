"""The workload a pod belongs to, resolved through its ownerReferences, with a small cache.

A pod's controller is rarely what people call its workload: a Deployment's pods are
owned by a ReplicaSet and a CronJob's by a Job. One step up is looked up through the
API: ReplicaSet -> Deployment, Job -> CronJob; a StatefulSet's or DaemonSet's pod names
its workload itself, and a pod without a controller is its own workload (kind Pod).
Remote mode and the file collector's enrichment (collect/kube/node_pods.py) both resolve
through `OwnerResolver`.

When the lookup fails, the pod still gets a workload and the reason is said once in
the error log: a 404 (the ReplicaSet or Job is gone already) keeps the owner the pod
names; a 403 (RBAC lets us see pods but not their owners) falls back to the pod
itself, and the message names the permission to add.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.api import KubeApi, KubeConnError, KubeHTTPError
from klogtui.collect.kube.errors import describe_conn, describe_http

__all__ = ["OwnerResolver", "Workload", "controller_of"]


class _StepUp(NamedTuple):
    """An owner kind whose own controller is the workload, and where to ask for it."""

    group: str  # the API group: apps, batch
    plural: str  # its resource: replicasets, jobs
    parent: str  # the kind that usually owns it: Deployment, CronJob


_ONE_STEP_UP = {
    "ReplicaSet": _StepUp("apps", "replicasets", "Deployment"),
    "Job": _StepUp("batch", "jobs", "CronJob"),
}


class Workload(NamedTuple):
    """A pod's workload: its kind (a `WorkloadKind`, see collect/pod_meta.py, or another
    controller's kind, such as an operator's custom resource or a static pod's Node) and
    its name."""

    kind: str
    name: str


def controller_of(meta: Mapping[str, Any]) -> Workload | None:
    """The controlling owner an object's metadata names (controller: true; else its
    first owner), or None when it has no owner."""
    refs = [r for r in meta.get("ownerReferences") or () if isinstance(r, dict)]
    ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    if ref is None or not ref.get("kind") or not ref.get("name"):
        return None
    return Workload(str(ref["kind"]), str(ref["name"]))


class OwnerResolver:
    """Resolves pods to workloads; a looked-up owner is kept for `ttl_s` (errors for
    `retry_s`), so a node's pods cost one request per ReplicaSet or Job.

    Args:
        api: the API layer (None: owners are not looked up, the pod's own reference
            is the workload).
        stats: where failed look-ups are said.
        timeout_s: per request.
        ttl_s: how long an answer is kept (a Deployment rarely changes its ReplicaSets'
            owner; a stale entry only delays a rename).
        retry_s: how long a failure is kept before asking again.
    """

    def __init__(
        self,
        api: KubeApi | None,
        stats: CollectorStats,
        timeout_s: float = 10.0,
        ttl_s: float = 600.0,
        retry_s: float = 60.0,
    ) -> None:
        self._api = api
        self._stats = stats
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._retry_s = retry_s
        self._lock = threading.Lock()
        # (kind, namespace, name) -> (its workload or None when forbidden, expiry)
        self._cache: dict[tuple[str, str, str], tuple[Workload | None, float]] = {}
        self.requests = 0  # look-ups sent, for tests and stats

    def resolve(self, pod: Mapping[str, Any]) -> Workload:
        """The workload of a pod object (JSON, as list and watch give it)."""
        meta = pod.get("metadata") or {}
        name = str(meta.get("name", ""))
        namespace = str(meta.get("namespace", ""))
        owner = controller_of(meta)
        if owner is None:
            return Workload("Pod", name)
        if owner.kind not in _ONE_STEP_UP or self._api is None:
            return owner
        up = self._up(owner, namespace)
        return Workload("Pod", name) if up is None else up

    def _up(self, owner: Workload, namespace: str) -> Workload | None:
        """owner's own controller if it has one, else owner; None when we may not look."""
        key = (owner.kind, namespace, owner.name)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[1] > now:
                return hit[0]
            if len(self._cache) > 4096:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
        found, keep_s = self._look_up(owner, namespace)
        with self._lock:
            self._cache[key] = (found, now + keep_s)
        return found

    def _look_up(self, owner: Workload, namespace: str) -> tuple[Workload | None, float]:
        assert self._api is not None
        up = _ONE_STEP_UP[owner.kind]
        path = f"/apis/{up.group}/v1/namespaces/{namespace}/{up.plural}/{owner.name}"
        where = f"owners of pods in {namespace} ({up.plural})"
        self.requests += 1
        try:
            obj = self._api.get_json(path, [], self._timeout_s)
        except KubeHTTPError as e:
            if e.status == 404:
                return owner, self._retry_s  # gone already: the pod's own reference
            if e.status == 403:
                detail = f": {e.message}" if e.message else ""
                message = (
                    f"not allowed to get {up.plural} in namespace {namespace!r} (403 "
                    f"Forbidden{detail}); the pods a {up.parent} owns through them are shown "
                    f"as their own workload: give klogtui get on {up.plural}.{up.group} to "
                    f"see the {up.parent}"
                )
            else:
                action = f"get {up.plural} (to find the {up.parent} owning {owner.name})"
                message = describe_http(e, action, namespace, self._api.target)
            self._stats.error(where, message)
            return None, self._retry_s
        except KubeConnError as e:
            self._stats.error(where, describe_conn(str(e), self._api.target))
            return None, self._retry_s
        self._stats.forget_errors(where)
        parent = controller_of(obj.get("metadata") or {})
        return (owner if parent is None else parent), self._ttl_s
