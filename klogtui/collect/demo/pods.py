"""The demo cluster's cast: its pods, their containers, line rates, lifecycle roles and
owners (the workload and labels a real cluster's API would give them)."""

from __future__ import annotations

from dataclasses import dataclass

from klogtui.collect.demo import messages as say
from klogtui.collect.demo.messages import Generator
from klogtui.collect.pod_meta import WorkloadKind

__all__ = ["PODS", "ContainerSpec", "PodSpec"]


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container of a pod: what it says, how often, in which file format."""

    container: str
    rate: float  # lines per second
    gen: Generator
    docker: bool = False  # Docker json-file format instead of CRI
    zone_s: int | None = None  # CRI-O style: local time with this UTC offset


@dataclass(frozen=True, slots=True)
class PodSpec:
    """One pod: its containers and when it starts, completes, crashes or is deleted."""

    namespace: str
    name: str
    containers: tuple[ContainerSpec, ...]
    start_s: float = 0.0
    end_s: float | None = None  # a Job: stops writing (completes) at this time
    delete_s: float | None = None  # the pod is deleted at this time
    crashloop: bool = False
    bursty: bool = False
    # Its owner, as collect/kube/owners.py resolves a real pod's: a Deployment,
    # StatefulSet, DaemonSet, CronJob ... or ("Pod", "") for a pod of its own.
    workload_kind: WorkloadKind = "Pod"
    workload: str = ""


PODS = (
    PodSpec(
        "shop",
        "frontend-6d8f7b9c4-x7k2p",
        (ContainerSpec("web", 60, say.web), ContainerSpec("istio-proxy", 60, say.envoy)),
        bursty=True,
        workload_kind="Deployment",
        workload="frontend",
    ),
    PodSpec(
        "shop",
        "checkout-7f9d8c6b5-q2w3e",
        (ContainerSpec("app", 20, say.checkout), ContainerSpec("istio-proxy", 20, say.envoy)),
        bursty=True,
        workload_kind="Deployment",
        workload="checkout",
    ),
    PodSpec(
        "shop",
        "cart-5b6c7d8e9-r4t5y",
        (ContainerSpec("app", 25, say.cart),),
        workload_kind="Deployment",
        workload="cart",
    ),
    PodSpec(
        "shop",
        "orders-9d8c7b6a5-k3l4m",
        (ContainerSpec("app", 8, say.orders),),
        workload_kind="Deployment",
        workload="orders",
    ),
    PodSpec(
        "shop",
        "storefront-dev-0",
        (ContainerSpec("vite", 3, say.devserver),),
        workload_kind="StatefulSet",
        workload="storefront-dev",
    ),
    PodSpec(
        "shop",
        "payment-8c7b6a5d4-m9n8b",
        (ContainerSpec("app", 10, say.payment),),
        crashloop=True,
        workload_kind="Deployment",
        workload="payment",
    ),
    PodSpec(
        "shop",
        "loadgen-6b5c4d3e2-z1x2c",
        (ContainerSpec("loadgen", 15, say.loadgen),),
        delete_s=390,
        workload_kind="Deployment",
        workload="loadgen",
    ),
    PodSpec(
        "data",
        "postgres-0",
        (ContainerSpec("postgres", 8, say.postgres),),
        workload_kind="StatefulSet",
        workload="postgres",
    ),
    PodSpec(
        "data",
        "redis-0",
        (ContainerSpec("redis", 5, say.redis, docker=True),),
        workload_kind="StatefulSet",
        workload="redis",
    ),
    PodSpec(
        "data",
        "mailer-7a6b5c4d3-p0o9i",
        (ContainerSpec("worker", 4, say.mailer),),
        workload_kind="Deployment",
        workload="mailer",
    ),
    PodSpec(
        "data",
        "etl-job-28734-bq9zt",
        (ContainerSpec("etl", 20, say.etl),),
        start_s=20,
        end_s=140,
        workload_kind="CronJob",
        workload="etl-job",
    ),
    PodSpec(
        "monitoring",
        "prometheus-0",
        (
            ContainerSpec("prometheus", 6, say.prometheus),
            ContainerSpec("config-reloader", 0.5, say.reloader),
        ),
        workload_kind="StatefulSet",
        workload="prometheus",
    ),
    PodSpec(
        "monitoring",
        "grafana-6f5d4c3b2-h8j7k",
        (ContainerSpec("grafana", 10, say.grafana),),
        workload_kind="Deployment",
        workload="grafana",
    ),
    PodSpec(
        "kube-system",
        "coredns-5d78c9869d-8fk2m",
        (ContainerSpec("coredns", 30, say.coredns),),
        workload_kind="Deployment",
        workload="coredns",
    ),
    PodSpec(
        "kube-system",
        "kube-proxy-n7m6b",
        (ContainerSpec("kube-proxy", 3, say.kube_proxy, zone_s=7200),),
        workload_kind="DaemonSet",
        workload="kube-proxy",
    ),
    PodSpec(
        "kube-system",
        "metrics-server-7cd5d6c8b-2xqlp",
        (ContainerSpec("metrics-server", 2, say.metrics_server),),
        workload_kind="Deployment",
        workload="metrics-server",
    ),
)
