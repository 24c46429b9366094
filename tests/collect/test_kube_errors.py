"""Remote mode's configuration and access errors: one line each, before anything starts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.collector import KubeCollector, KubeOptions, KubeTimings
from klogtui.collect.kube.stream import StreamTimings
from klogtui.errors import CollectorError
from klogtui.model import Batch
from tests.kube_double import FakeCluster, KubeDouble, write_kubeconfig
from tests.net import free_port
from tests.waiting import wait_for

FAST = KubeTimings(
    connect_timeout_s=2.0,
    check_timeout_s=5.0,
    batch_delay_s=0.03,
    stream=StreamTimings(read_timeout_s=1.0, backoff_base_s=0.05, backoff_max_s=0.3),
)
RBAC = "klogtui needs RBAC permission to get, list and watch pods, and get pods/log"


class ListSink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def submit(self, batch: Batch) -> None:
        self.batches.append(batch)


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(FakeCluster()) as d:
        d.cluster.add_pod("shop", "web-1")
        yield d


def collector(
    kubeconfig: str | Path | None,
    namespaces: list[str] | None = None,
    all_namespaces: bool = False,
    context: str | None = None,
    selector: str | None = None,
    in_cluster: bool = False,
    stats: CollectorStats | None = None,
) -> KubeCollector:
    options = KubeOptions(
        None if kubeconfig is None else str(kubeconfig),
        context,
        namespaces or [],
        all_namespaces,
        selector,
        in_cluster=in_cluster,
        timings=FAST,
    )
    return KubeCollector(options, ListSink(), stats or CollectorStats())


def error_of(make: object) -> str:
    with pytest.raises(CollectorError) as info:
        c = make() if callable(make) else make
        if isinstance(c, KubeCollector):
            c.check()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error_of(lambda: collector(path)) == f"kubeconfig not found: {path}"


def test_default_kubeconfig_is_kubeconfig_env_then_home(
    double: KubeDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home_cfg = Path.home() / ".kube" / "config"
    assert error_of(lambda: collector(None)) == f"kubeconfig not found: {home_cfg}"
    env_cfg = double.kubeconfig(tmp_path / "env-config")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{env_cfg}")
    c = collector(None, ["shop"])
    c.check()
    assert c.api.target.origin == str(env_cfg)


@pytest.mark.parametrize("text", ["clusters: [", "just a string", "[1, 2]"])
def test_invalid_kubeconfig(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    assert error_of(lambda: collector(path)).startswith(f"invalid kubeconfig {path}: ")


def test_kubeconfig_whose_context_names_a_missing_cluster(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        json.dumps(
            {
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "contexts": [{"name": "x", "context": {"cluster": "ghost", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "current-context": "x",
            }
        )
    )
    assert error_of(lambda: collector(path)).startswith(
        f"invalid kubeconfig {path} (context 'x'): "
    )


def test_unknown_context_lists_the_known_ones(double: KubeDouble, tmp_path: Path) -> None:
    path = double.kubeconfig(tmp_path / "config")
    assert error_of(lambda: collector(path, context="prod")) == (
        f"context 'prod' not found in {path} (contexts: double)"
    )


def test_no_current_context(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", "t")
    cfg = json.loads(path.read_text())
    del cfg["current-context"]
    path.write_text(json.dumps(cfg))
    assert error_of(lambda: collector(path)) == (
        f"kubeconfig {path} has no current-context; pass --context"
    )


def test_unreachable_server(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    path = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}", "t")
    assert error_of(lambda: collector(path, ["shop"])) == (
        f"cannot reach the Kubernetes API server at http://127.0.0.1:{port} "
        f"(context 'double' in {path}): Connection refused"
    )


def test_rejected_credentials(double: KubeDouble, tmp_path: Path) -> None:
    path = double.kubeconfig(tmp_path / "config", token="stale")
    assert error_of(lambda: collector(path, ["shop"])) == (
        f"the API server at {double.url} rejected the credentials of context 'double' "
        f"(401 Unauthorized), also freshly loaded: log in again or fix the user in {path}"
    )


def test_forbidden_namespace_names_the_rbac_needed(double: KubeDouble, tmp_path: Path) -> None:
    double.cluster.forbidden_namespaces.add("shop")
    path = double.kubeconfig(tmp_path / "config")
    assert error_of(lambda: collector(path, ["shop"])) == (
        "not allowed to list pods in namespace 'shop' (403 Forbidden: pods is forbidden: "
        'User "system:serviceaccount:test:klogtui" cannot list resource "pods" in API group '
        f'"" in the namespace "shop"); {RBAC}'
    )


def test_forbidden_cluster_scope_for_all_namespaces(double: KubeDouble, tmp_path: Path) -> None:
    double.cluster.forbid_cluster_scope = True
    path = double.kubeconfig(tmp_path / "config")
    message = error_of(lambda: collector(path, all_namespaces=True))
    assert message.startswith("not allowed to list pods in all namespaces (403 Forbidden")
    assert message.endswith(RBAC)


def test_unknown_namespace(double: KubeDouble, tmp_path: Path) -> None:
    path = double.kubeconfig(tmp_path / "config")
    assert error_of(lambda: collector(path, ["shpo"])) == (
        "namespace 'shpo' not found in context 'double' (namespaces: default, shop)"
    )


def test_namespace_list_forbidden_is_not_an_error(double: KubeDouble, tmp_path: Path) -> None:
    double.cluster.forbid_namespace_list = True
    c = collector(double.kubeconfig(tmp_path / "config"), ["shop"])
    c.check()


def test_context_namespace_is_the_default(double: KubeDouble, tmp_path: Path) -> None:
    c = collector(double.kubeconfig(tmp_path / "config", namespace="shop"))
    assert c.namespaces == ["shop"]
    c.check()


def test_invalid_selector(double: KubeDouble, tmp_path: Path) -> None:
    path = double.kubeconfig(tmp_path / "config")
    message = error_of(lambda: collector(path, ["shop"], selector="app in (web"))
    assert message.startswith("cannot list pods in namespace 'shop' (400 BadRequest: ")


def test_start_checks_before_anything_runs(double: KubeDouble, tmp_path: Path) -> None:
    double.cluster.forbidden_namespaces.add("shop")
    c = collector(double.kubeconfig(tmp_path / "config"), ["shop"])
    with pytest.raises(CollectorError):
        c.start()
    assert c.counts()["lists"] == 0


def test_in_cluster_outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    message = error_of(lambda: collector(None, in_cluster=True))
    assert message.startswith("in-cluster config unavailable (not running in a Kubernetes pod?)")


def test_permission_lost_while_running_is_reported_with_the_rbac_needed(
    double: KubeDouble, tmp_path: Path
) -> None:
    stats = CollectorStats()
    c = collector(double.kubeconfig(tmp_path / "config"), ["shop"], stats=stats)
    c.start()
    try:
        wait_for(c.caught_up)
        wait_for(lambda: double.cluster.open_log_streams("shop") == 1)
        double.cluster.forbidden_namespaces.add("shop")
        double.cluster.break_streams("shop")
        double.cluster.emit("shop", "web-1", "app", 1)

        def reported() -> bool:
            return any(
                "get pods/log of web-1" in e.message and e.message.endswith(RBAC)
                for e in stats.snapshot().errors
            )

        wait_for(reported, what="403 reported")
    finally:
        c.stop()
        c.join(5)
