"""The owner resolver over the API double: each owner chain to its workload, owners
already gone, RBAC that hides ReplicaSets (the pod itself, said clearly), and the cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.api import KubeApi
from klogtui.collect.kube.connect import connect
from klogtui.collect.kube.owners import OwnerResolver, Workload
from tests.kube_double import KubeDouble
from tests.kube_double.workloads import add_owned_pod


@pytest.fixture
def api(double: KubeDouble, tmp_path: Path) -> Iterator[KubeApi]:
    kubeconfig = double.kubeconfig(tmp_path / "kubeconfig")
    api = connect(str(kubeconfig), None, False, pool_size=2, connect_timeout=5)
    yield api
    api.close()


def pod_json(double: KubeDouble, ns: str, name: str) -> dict[str, Any]:
    with double.cluster.cond:
        return double.cluster.pods[(ns, name)].to_json()


@pytest.mark.parametrize(
    ("chain", "workload"),
    [
        ([("Deployment", "web"), ("ReplicaSet", "web-7d9f8c6b5")], Workload("Deployment", "web")),
        ([("StatefulSet", "db")], Workload("StatefulSet", "db")),
        ([("DaemonSet", "fluent-bit")], Workload("DaemonSet", "fluent-bit")),
        ([("CronJob", "report"), ("Job", "report-28900000")], Workload("CronJob", "report")),
        ([("Job", "migrate")], Workload("Job", "migrate")),  # a Job of its own
        ([("ReplicaSet", "legacy")], Workload("ReplicaSet", "legacy")),  # no Deployment
        ([], Workload("Pod", "p-1")),  # a bare pod is its own workload
    ],
)
def test_each_owner_chain_resolves_to_its_workload(
    double: KubeDouble, api: KubeApi, chain: list[tuple[str, str]], workload: Workload
) -> None:
    add_owned_pod(double.cluster, "shop", "p-1", chain)
    stats = CollectorStats()
    assert OwnerResolver(api, stats).resolve(pod_json(double, "shop", "p-1")) == workload
    assert stats.snapshot().errors == ()


def test_an_owner_already_deleted_keeps_the_reference_the_pod_names(
    double: KubeDouble, api: KubeApi
) -> None:
    chain = [("Deployment", "web"), ("ReplicaSet", "web-5f")]
    add_owned_pod(double.cluster, "shop", "web-5f-a", chain, create=False)
    stats = CollectorStats()
    resolved = OwnerResolver(api, stats).resolve(pod_json(double, "shop", "web-5f-a"))
    assert resolved == Workload("ReplicaSet", "web-5f")
    assert stats.snapshot().errors == ()  # nothing wrong: the owner is just gone


def test_forbidden_replicasets_fall_back_to_the_pod_and_say_why(
    double: KubeDouble, api: KubeApi
) -> None:
    double.cluster.forbidden_resources.add("replicasets")
    chain = [("Deployment", "web"), ("ReplicaSet", "web-7d9f8c6b5")]
    add_owned_pod(double.cluster, "shop", "web-7d9f8c6b5-x2x9k", chain)
    add_owned_pod(double.cluster, "shop", "web-7d9f8c6b5-q8r2m", chain)
    add_owned_pod(double.cluster, "shop", "db-0", [("StatefulSet", "db")])
    stats = CollectorStats()
    resolver = OwnerResolver(api, stats)
    for pod in ("web-7d9f8c6b5-x2x9k", "web-7d9f8c6b5-q8r2m"):
        assert resolver.resolve(pod_json(double, "shop", pod)) == Workload("Pod", pod)
    # Needs no look-up, so RBAC does not stand in the way.
    assert resolver.resolve(pod_json(double, "shop", "db-0")) == Workload("StatefulSet", "db")
    errors = stats.snapshot().errors
    assert len(errors) == 1  # said once, not per pod
    message = errors[0].message
    assert "not allowed to get replicasets" in message and "403 Forbidden" in message
    assert "shown as their own workload" in message and "get on replicasets.apps" in message
    assert resolver.requests == 1  # the refusal is cached too


def test_one_request_per_replicaset_for_all_its_pods(double: KubeDouble, api: KubeApi) -> None:
    chain = [("Deployment", "web"), ("ReplicaSet", "web-7d9f8c6b5")]
    for i in range(5):
        add_owned_pod(double.cluster, "shop", f"web-7d9f8c6b5-{i}", chain)
    resolver = OwnerResolver(api, CollectorStats())
    got = {resolver.resolve(pod_json(double, "shop", f"web-7d9f8c6b5-{i}")) for i in range(5)}
    assert got == {Workload("Deployment", "web")}
    assert len(double.cluster.requests_to("/replicasets/web-7d9f8c6b5")) == 1


def test_without_api_access_the_pods_own_reference_is_the_workload(double: KubeDouble) -> None:
    add_owned_pod(double.cluster, "shop", "web-1", [("Deployment", "web"), ("ReplicaSet", "w")])
    resolver = OwnerResolver(None, CollectorStats())
    assert resolver.resolve(pod_json(double, "shop", "web-1")) == Workload("ReplicaSet", "w")
