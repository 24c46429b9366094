"""Pod status -> which request returns which container instance, and source metadata."""

from __future__ import annotations

from typing import Any

import pytest

from klogtui.collect.kube.status import ContainerView, Plan, PodView, instance_infos, plan_for


def pod(*statuses: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "u1",
            "resourceVersion": "7",
            "labels": {"app": "web"},
        },
        "spec": {"nodeName": "node-a"},
        "status": {"containerStatuses": list(statuses), "initContainerStatuses": list(init)},
    }


RUNNING = {
    "name": "app",
    "restartCount": 2,
    "containerID": "cri://c2",
    "state": {"running": {}},
    "lastState": {"terminated": {"reason": "OOMKilled", "containerID": "cri://c1"}},
}
CRASHLOOP = {
    "name": "app",
    "restartCount": 2,
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"reason": "Error", "containerID": "cri://c2"}},
}
CREATING = {
    "name": "app",
    "restartCount": 0,
    "state": {"waiting": {"reason": "ContainerCreating"}},
    "lastState": {},
}
DONE = {
    "name": "app",
    "restartCount": 2,
    "containerID": "cri://c2",
    "state": {"terminated": {"reason": "Completed", "containerID": "cri://c2"}},
    "lastState": {"terminated": {"reason": "Error", "containerID": "cri://c1"}},
}


def view(status: dict[str, Any]) -> ContainerView:
    return PodView.from_dict(pod(status)).containers["app"]


@pytest.mark.parametrize(
    "status,restart,plan",
    [
        (RUNNING, 2, Plan.FOLLOW),
        (RUNNING, 1, Plan.PREVIOUS),  # lastState is instance 1 while 2 runs
        (RUNNING, 0, Plan.GONE),
        (RUNNING, 3, Plan.WAIT),  # the status has not caught up yet
        (CRASHLOOP, 2, Plan.READ),  # the dead instance 2 is what the current log shows
        (CRASHLOOP, 1, Plan.GONE),  # previous=true would show instance 2, not 1
        (CREATING, 0, Plan.WAIT),
        (DONE, 2, Plan.READ),
        (DONE, 1, Plan.PREVIOUS),
    ],
)
def test_plan_follows_the_kubelet(status: dict[str, Any], restart: int, plan: Plan) -> None:
    assert plan_for(restart, view(status)) is plan


def test_gone_pod_plans_gone() -> None:
    assert plan_for(0, None) is Plan.GONE


def test_view_reads_ids_reasons_and_init_containers() -> None:
    setup = {
        "name": "setup",
        "restartCount": 0,
        "containerID": "cri://s",
        "state": {"terminated": {"reason": "Completed", "containerID": "cri://s"}},
    }
    p = PodView.from_dict(pod(RUNNING, init=(setup,)))
    assert (p.uid, p.namespace, p.name, p.node, p.labels) == (
        "u1",
        "shop",
        "web-1",
        "node-a",
        {"app": "web"},
    )
    assert p.containers["app"] == ContainerView(
        "app", 2, "running", "", "cri://c2", "cri://c1", "OOMKilled", True
    )
    assert p.containers["setup"].state == "terminated"
    crash = view(CRASHLOOP)
    assert (crash.container_id, crash.reason, crash.started) == (
        "cri://c2",
        "CrashLoopBackOff",
        True,
    )
    assert view(CREATING).started is False


def test_infos_describe_current_previous_and_older_instances() -> None:
    p = PodView.from_dict(pod(RUNNING))
    infos = {i.key.restart: i for i in instance_infos(p, {"app": [0]})}
    assert sorted(infos) == [0, 1, 2]
    assert (infos[2].state, infos[2].reason, infos[2].container_id) == ("running", "", "cri://c2")
    assert (infos[1].state, infos[1].reason, infos[1].container_id) == (
        "terminated",
        "OOMKilled",
        "cri://c1",
    )
    assert (infos[0].state, infos[0].reason) == ("terminated", None)  # reason unchanged
    assert all(i.node == "node-a" and i.labels == {"app": "web"} for i in infos.values())
    crash = {i.key.restart: i for i in instance_infos(PodView.from_dict(pod(CRASHLOOP)), {})}
    assert (crash[2].state, crash[2].reason) == ("waiting", "CrashLoopBackOff")
    assert instance_infos(PodView.from_dict(pod(CREATING)), {}) == []
