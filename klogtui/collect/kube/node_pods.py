"""The pods of one node, watched through the API, as a `PodMetaFeed` for the file
collector: each pod's labels and owning workload, so a node's files get what remote
mode gets (`klogtui collect --log-dir ... --kubeconfig`/`--in-cluster --node NODE`).

The watch is the pod watcher's (list, then watch, resumed with its backoff after
errors, a 410 answered by listing again) with ``fieldSelector=spec.nodeName=NODE``, so
the API server sends only this node's pods, as the kubelet's own watch does. Owners
are resolved by collect/kube/owners.py on this thread, never on the file collector's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.api import KubeApi
from klogtui.collect.kube.owners import OwnerResolver
from klogtui.collect.kube.pods import PodWatcher, WatchTimings
from klogtui.collect.pod_meta import PodMeta

__all__ = ["NodePods"]


class NodePods:
    """Tells a file collector about the pods scheduled on `node`.

    Args:
        api: the API layer (its credentials need get, list and watch on pods; get on
            replicasets and jobs to name Deployments and CronJobs).
        node: the node's name as the API knows it.
        stats: where failures are said (the file collector goes on without labels).
        timings: the watch's pacing.
    """

    def __init__(
        self,
        api: KubeApi,
        node: str,
        stats: CollectorStats,
        timings: WatchTimings | None = None,
    ) -> None:
        self._api = api
        self._stopping = threading.Event()
        self._owners = OwnerResolver(api, stats)
        self._deliver: Callable[[PodMeta], None] = lambda meta: None
        self._sent: dict[str, PodMeta] = {}  # by uid: only changes are delivered
        self._watcher = PodWatcher(
            api,
            None,
            None,
            self,
            stats,
            timings or WatchTimings(),
            self._stopping,
            field_selector=f"spec.nodeName={node}",
        )

    # -- PodMetaFeed ----------------------------------------------------------------------

    def start(self, deliver: Callable[[PodMeta], None]) -> None:
        self._deliver = deliver
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        self._watcher.interrupt()

    def join(self, timeout: float | None = None) -> None:
        self._watcher.join(timeout)
        if self._stopping.is_set():
            self._api.close()

    # -- PodEvents (the watcher's thread) -------------------------------------------------

    def pods_listed(self, namespace: str | None, pods: list[dict[str, Any]], first: bool) -> None:
        for pod in pods:
            self.pod_changed(pod)

    def pod_changed(self, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        workload = self._owners.resolve(pod)
        found = PodMeta(
            uid=str(meta.get("uid", "")),
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            workload_kind=workload.kind,
            workload=workload.name,
        )
        if self._sent.get(found.uid) != found:
            self._sent[found.uid] = found
            self._deliver(found)

    def pod_deleted(self, pod: dict[str, Any]) -> None:
        # Its sources keep what they were told: the logs outlive the pod.
        self._sent.pop(str((pod.get("metadata") or {}).get("uid", "")), None)
