"""The cluster's objects: pods, their containers and each container's instances (runs).

`Container` follows the kubelet's rules for restartCount, lastState and which
instance the current and the previous log show; `Pod.to_json` is the Pod object the
API returns.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tests.kube_double.times import iso

__all__ = ["Container", "Instance", "Pod"]


@dataclass
class Instance:
    """One run of a container: its log lines and whether it still runs."""

    container_id: str
    started_ns: int
    cond: threading.Condition  # shares the cluster's lock; followers of this instance wait here
    lines: list[tuple[int, bytes]] = field(default_factory=list)  # (ts, text without LF)
    base: int = 0  # lines rotated away before lines[0] (absolute index of lines[0])
    running: bool = True
    exit_code: int = 0
    reason: str = ""
    finished_ns: int = 0
    max_lines: int = 0  # keep at most this many (0: all), like log rotation
    # The kubelet's log file rotation: the log endpoint serves only the current file.
    rotate_bytes: int = 0  # rotate once the current file would exceed this (0: never)
    file_start: int = 0  # absolute index of the current file's first line
    file_bytes: int = 0  # bytes written to the current file
    rotations: int = 0  # files rotated away so far

    def append(self, ts: int, text: bytes) -> None:
        """Write one line, rotating the file first if it would grow past rotate_bytes."""
        size = len(text) + 32  # the CRI prefix: timestamp, stream, tag
        if self.rotate_bytes and self.file_bytes and self.file_bytes + size > self.rotate_bytes:
            self.file_start = self.end
            self.file_bytes = 0
            self.rotations += 1
        self.lines.append((ts, text))
        self.file_bytes += size

    @property
    def end(self) -> int:
        """Absolute index after the newest line."""
        return self.base + len(self.lines)


@dataclass
class Container:
    """A container with its instances, newest last.

    The kubelet's rules, which the log endpoint follows: restartCount is the newest
    instance's number; while the container waits in CrashLoopBackOff its lastState is
    that newest (dead) instance and both the current and the previous log show it;
    otherwise previous=true shows the instance before the newest.
    """

    name: str
    instances: list[Instance] = field(default_factory=list)
    waiting_reason: str = "ContainerCreating"  # used while no instance runs and restart is due
    restart_on_exit: bool = True
    seq: int = 0  # numbered lines emitted so far
    init: bool = False
    rotate_bytes: int = 0  # given to each new instance (see Instance.rotate_bytes)

    @property
    def state(self) -> str:
        if not self.instances:
            return "waiting"
        if self.instances[-1].running:
            return "running"
        return "waiting" if self.restart_on_exit else "terminated"

    def status(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "name": self.name,
            "image": "registry.example/app:1",
            "imageID": "",
            "ready": self.state == "running",
            "restartCount": max(0, len(self.instances) - 1),
            "started": self.state == "running",
        }
        state = self.state
        if state == "running":
            cur = self.instances[-1]
            st["containerID"] = cur.container_id
            st["state"] = {"running": {"startedAt": iso(cur.started_ns)}}
            prev = self.instances[-2] if len(self.instances) > 1 else None
        elif state == "terminated":
            cur = self.instances[-1]
            st["containerID"] = cur.container_id
            st["state"] = {"terminated": _terminated(cur)}
            prev = self.instances[-2] if len(self.instances) > 1 else None
        else:
            reason = "CrashLoopBackOff" if self.instances else self.waiting_reason
            st["state"] = {"waiting": {"reason": reason}}
            prev = self.instances[-1] if self.instances else None
        st["lastState"] = {"terminated": _terminated(prev)} if prev is not None else {}
        return st

    def current(self) -> Instance | None:
        return self.instances[-1] if self.instances else None

    def previous(self) -> Instance | None:
        if self.state == "waiting":
            return self.instances[-1] if self.instances else None
        return self.instances[-2] if len(self.instances) > 1 else None


def _terminated(inst: Instance) -> dict[str, Any]:
    return {
        "exitCode": inst.exit_code,
        "reason": inst.reason or ("Completed" if inst.exit_code == 0 else "Error"),
        "startedAt": iso(inst.started_ns),
        "finishedAt": iso(inst.finished_ns or inst.started_ns),
        "containerID": inst.container_id,
    }


@dataclass
class Pod:
    """A pod: its containers by name, and the metadata and version the API shows."""

    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    node: str
    containers: dict[str, Container]
    resource_version: int = 0
    created_ns: int = 0
    deletion_ns: int = 0  # set once the pod is Terminating (deletionTimestamp)
    owners: list[dict[str, Any]] = field(default_factory=list)  # its ownerReferences
    ports: dict[str, int] = field(default_factory=dict)  # its containers' named ports

    def to_json(self) -> dict[str, Any]:
        inits = [c for c in self.containers.values() if c.init]
        mains = [c for c in self.containers.values() if not c.init]
        states = [c.state for c in mains]
        if all(s == "terminated" for s in states):
            codes = [c.instances[-1].exit_code for c in mains if c.instances]
            phase = "Succeeded" if all(x == 0 for x in codes) else "Failed"
        elif any(c.instances for c in mains):
            phase = "Running"
        else:
            phase = "Pending"
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": "10.0.0.1",
            "podIP": "10.1.0.7",
            "containerStatuses": [c.status() for c in mains],
        }
        if inits:
            status["initContainerStatuses"] = [c.status() for c in inits]
        spec: dict[str, Any] = {
            "nodeName": self.node,
            "restartPolicy": "Always",
            "containers": [{"name": c.name, "image": "registry.example/app:1"} for c in mains],
        }
        if self.ports:
            spec["containers"][0]["ports"] = [
                {"name": name, "containerPort": port, "protocol": "TCP"}
                for name, port in self.ports.items()
            ]
        if inits:
            spec["initContainers"] = [{"name": c.name, "image": "busybox"} for c in inits]
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": str(self.resource_version),
            "creationTimestamp": iso(self.created_ns),
            "labels": dict(self.labels),
        }
        if self.owners:
            meta["ownerReferences"] = [dict(o) for o in self.owners]
        if self.deletion_ns:
            meta["deletionTimestamp"] = iso(self.deletion_ns)
            meta["deletionGracePeriodSeconds"] = 30
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": spec,
            "status": status,
        }
