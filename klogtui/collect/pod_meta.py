"""What a log file's pod is beyond its path: its labels and owning workload, as the API
(collect/kube/node_pods.py) or the demo's cast tells it, and the feed a file collector
takes it from.

A kubelet's log path names the namespace, pod, uid and container only; labels and the
workload come from elsewhere, on another thread, in any order with the files. The file
collector hands each `PodMeta` to its sources (collect/files/sources.py), which attach it
to the pod's sources already seen and to those seen later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple, Protocol

__all__ = ["FixedPods", "PodMeta", "PodMetaFeed", "WorkloadKind"]

# The workload kinds Kubernetes itself makes pods for (collect/kube/owners.py resolves
# a ReplicaSet to its Deployment and a Job to its CronJob); a bare pod is its own, "Pod".
# An operator's pods may name a kind of its own: kinds are strings where they are read.
WorkloadKind = Literal[
    "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "Pod"
]


class PodMeta(NamedTuple):
    """One pod's metadata, keyed by its uid (and its name, for paths without a uid)."""

    uid: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    workload_kind: str
    workload: str


class PodMetaFeed(Protocol):
    """Tells a file collector about pods, from a thread of its own."""

    def start(self, deliver: Callable[[PodMeta], None]) -> None:
        """Start; `deliver` is called (from any thread) for each pod seen or changed."""

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


class FixedPods:
    """A feed of pods known up front (the demo's cast): all delivered at start."""

    def __init__(self, pods: Sequence[PodMeta]) -> None:
        self._pods = tuple(pods)

    def start(self, deliver: Callable[[PodMeta], None]) -> None:
        for pod in self._pods:
            deliver(pod)

    def stop(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass
