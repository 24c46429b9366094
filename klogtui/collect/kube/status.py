"""What a pod object says about its container instances, and how to read each one.

Pods arrive as plain JSON dicts (from list and watch); this module reduces them to
`PodView`s and decides, for one container instance, which log request returns it.
The rules follow the kubelet (pkg/kubelet/kubelet_pods.go, validateContainerLogStatus):

- `restartCount` R numbers the newest instance; its log is the "current" log, also
  while the container waits in CrashLoopBackOff (the waiting container's
  `lastState.terminated` is then instance R itself).
- `previous=true` returns `lastState.terminated`, which is instance R-1 only while
  instance R exists (running or terminated). Older instances are out of reach.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from klogtui.collect.kube.owners import Workload
from klogtui.model import SourceInfo, SourceKey

__all__ = ["ContainerView", "Plan", "PodView", "instance_infos", "plan_for"]


ContainerState = Literal["running", "waiting", "terminated"]


@dataclass(frozen=True, slots=True)
class ContainerView:
    """One container's status, as far as its log is concerned.

    Attributes:
        name: container name.
        restart_count: R, the number of the newest instance.
        state: what the newest instance is doing.
        reason: the waiting or terminated reason ("" when running).
        container_id: the newest instance's runtime id ("" if it never started).
        last_id: runtime id of the instance `lastState` describes ("" if none).
        last_reason: why the instance `lastState` describes ended.
        started: instance R exists (it started at least once).
    """

    name: str
    restart_count: int
    state: ContainerState
    reason: str
    container_id: str
    last_id: str
    last_reason: str
    started: bool


@dataclass(frozen=True, slots=True)
class PodView:
    """The parts of a pod object the collector needs."""

    uid: str
    namespace: str
    name: str
    node: str
    labels: dict[str, str]
    resource_version: str
    containers: dict[str, ContainerView]
    terminating: bool = False  # deletionTimestamp is set: its logs go with it soon
    workload: Workload | None = None  # as collect/kube/owners.py resolved it

    @classmethod
    def from_dict(cls, obj: dict[str, Any], workload: Workload | None = None) -> PodView:
        """Build a view from a pod object as the API returns it (JSON)."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        containers: dict[str, ContainerView] = {}
        # Init and ephemeral containers log too; stern follows them as well.
        for field in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
            for cs in status.get(field) or ():
                view = _container_view(cs)
                containers[view.name] = view
        return cls(
            uid=str(meta.get("uid", "")),
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            node=str(spec.get("nodeName") or ""),
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            resource_version=str(meta.get("resourceVersion", "")),
            containers=containers,
            terminating=bool(meta.get("deletionTimestamp")),
            workload=workload,
        )

    def key(self, container: str, restart: int) -> SourceKey:
        return SourceKey(self.namespace, self.name, container, restart, self.uid)


def _container_view(cs: dict[str, Any]) -> ContainerView:
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    restart = int(cs.get("restartCount") or 0)
    kind: ContainerState
    if "running" in state and state["running"] is not None:
        kind, reason, started = "running", "", True
        cid = str(cs.get("containerID") or "")
    elif "terminated" in state and state["terminated"] is not None:
        term = state["terminated"]
        kind, reason, started = "terminated", str(term.get("reason") or ""), True
        cid = str(term.get("containerID") or cs.get("containerID") or "")
    else:
        waiting = state.get("waiting") or {}
        kind, reason = "waiting", str(waiting.get("reason") or "")
        # A waiting container whose lastState is set has run before: that ended run
        # is instance R, and the current log shows it.
        cid = str(last.get("containerID") or "")
        started = bool(cid) or restart > 0
    return ContainerView(
        name=str(cs.get("name", "")),
        restart_count=restart,
        state=kind,
        reason=reason,
        container_id=cid,
        last_id=str(last.get("containerID") or ""),
        last_reason=str(last.get("reason") or ""),
        started=started,
    )


class Plan(enum.Enum):
    """How to read one container instance's log now."""

    FOLLOW = "follow"  # the current log, following: the instance runs
    READ = "read"  # the current log to its end: the instance ended, is still current
    PREVIOUS = "previous"  # previous=true to its end: the next instance exists
    WAIT = "wait"  # the instance has not started yet
    GONE = "gone"  # no request returns this instance any more


def plan_for(restart: int, view: ContainerView | None) -> Plan:
    """Decide how instance `restart` of a container can be read, given its status.

    Args:
        restart: the instance number.
        view: the container's latest status, or None if the pod or container is gone.
    """
    if view is None:
        return Plan.GONE
    r = view.restart_count
    if restart == r:
        if view.state == "running":
            return Plan.FOLLOW
        return Plan.READ if view.started else Plan.WAIT
    if restart == r - 1 and view.state != "waiting":
        return Plan.PREVIOUS
    if restart > r:
        return Plan.WAIT
    return Plan.GONE


def instance_infos(pod: PodView, known: dict[str, list[int]]) -> list[SourceInfo]:
    """Source metadata for a pod's instances: the newest, the previous, older known ones.

    Args:
        pod: the pod's view.
        known: container name -> instance numbers the collector tracks for this pod.
    """
    infos: list[SourceInfo] = []
    labels = pod.labels
    kind, name = pod.workload or (None, None)
    for view in pod.containers.values():
        r = view.restart_count
        numbers = set(known.get(view.name, ()))
        if view.started:
            numbers.add(r)
        if r > 0 and view.state != "waiting" and view.last_id:
            numbers.add(r - 1)
        for n in sorted(numbers):
            key = pod.key(view.name, n)
            if n == r:
                cid, state, reason = view.container_id or None, view.state, view.reason
            elif n == r - 1 and view.state != "waiting":
                cid, state, reason = view.last_id or None, "terminated", view.last_reason
            else:
                cid, state, reason = None, "terminated", None
            infos.append(SourceInfo(key, cid, pod.node, labels, state, reason, kind, name))
    return infos
