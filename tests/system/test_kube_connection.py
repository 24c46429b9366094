"""Remote mode's connection to a cluster, as a user meets it through `klogtui collect`:
which store a context's lines go to, the client library it needs, throttling by the
API server, proxies, TLS and permissions. Everything runs against the API double."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client import ApiClient

from klogtui.cli import main
from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.api import ThrottleRetry
from klogtui.collect.kube.collector import KubeCollector, KubeOptions
from klogtui.collect.kube.connect import MIN_CLIENT_MAJOR
from klogtui.errors import CollectorError
from klogtui.store import Store, default_db_path
from tests.kube_double import FakeCluster, KubeDouble, Throttle, write_kubeconfig
from tests.kube_run import FAST, Run, seqs, settle, stored
from tests.net import free_port
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def two_cluster_kubeconfig(path: Path, prod: KubeDouble, staging: KubeDouble) -> Path:
    """One kubeconfig with a context per cluster, prod the current one."""
    clusters, users, contexts = [], [], []
    for name, d in (("prod", prod), ("staging", staging)):
        clusters.append({"name": name, "cluster": {"server": d.url}})
        users.append({"name": name, "user": {"token": d.cluster.token}})
        contexts.append({"name": name, "context": {"cluster": name, "user": name}})
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": "prod",
    }
    path.write_text(json.dumps(cfg))
    return path


def store_files() -> list[str]:
    """The stores in the default data directory (not their -wal, -shm, .lock files)."""
    directory = default_db_path("x").parent
    return sorted(p.name for p in directory.glob("*.db")) if directory.exists() else []


# -- item 2: a store per resolved context ------------------------------------------------


def test_each_cluster_context_gets_its_own_store_without_context_flag(tmp_path: Path) -> None:
    with KubeDouble() as prod, KubeDouble() as staging:
        prod.cluster.add_pod("default", "api")
        prod.cluster.emit("default", "api", "app", 3, "prod")
        staging.cluster.add_pod("default", "api")
        staging.cluster.emit("default", "api", "app", 2, "staging")
        kubeconfig = two_cluster_kubeconfig(tmp_path / "config", prod, staging)
        args = ["collect", "--kubeconfig", str(kubeconfig), "--once"]
        assert main(args) == 0
        # What `kubectl config use-context staging` does to the file.
        cfg = json.loads(kubeconfig.read_text())
        kubeconfig.write_text(json.dumps(cfg | {"current-context": "staging"}))
        assert main(args) == 0
    assert store_files() == ["kube-prod.db", "kube-staging.db"]
    assert stored(Store(default_db_path("kube-prod"))) == {
        "default/api/app#0": seqs("prod", range(3))
    }
    assert stored(Store(default_db_path("kube-staging"))) == {
        "default/api/app#0": seqs("staging", range(2))
    }


def test_unknown_context_is_refused_before_a_store_exists(
    double: KubeDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = double.kubeconfig(tmp_path / "config")
    code = main(["collect", "--kubeconfig", str(kubeconfig), "--context", "typo", "--once"])
    assert code == 1
    assert capsys.readouterr().err == (
        f"klogtui: context 'typo' not found in {kubeconfig} (contexts: double)\n"
    )
    assert store_files() == []
    assert not default_db_path("x").parent.exists()


# -- item 3: the client library the code needs --------------------------------------------


def test_pyproject_pins_the_client_version_the_code_checks_for() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if d.startswith("kubernetes")]
    assert pin == f"kubernetes>={MIN_CLIENT_MAJOR}"
    assert int(kubernetes.__version__.split(".")[0]) >= MIN_CLIENT_MAJOR


def test_an_older_client_library_is_named_not_a_traceback(
    double: KubeDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What kubernetes 36 lacks (its ApiClient has no param_serialize).
    monkeypatch.delattr(ApiClient, "param_serialize")
    monkeypatch.setattr(kubernetes, "__version__", "36.0.0")
    kubeconfig = double.kubeconfig(tmp_path / "config")
    code = main(["collect", "--kubeconfig", str(kubeconfig), "--db", str(tmp_path / "k.db")])
    assert code == 1
    assert capsys.readouterr().err == (
        "klogtui: remote mode needs the kubernetes package 37 or newer (installed: 36.0.0); "
        "run: pip install 'kubernetes>=37'\n"
    )


# -- item 4: 429 Too Many Requests (API Priority and Fairness) ------------------------------


def pod_lists(cluster: FakeCluster) -> list[tuple[float, str]]:
    """(time, continue token) of every pod list request, in order (not the access check's)."""
    with cluster.cond:
        return [
            (t, q.get("continue", [""])[0])
            for t, (p, q) in zip(cluster.request_times, cluster.requests, strict=True)
            if p.endswith("/pods") and "watch" not in q and q.get("limit") != ["1"]
        ]


def test_429_at_start_up_is_retried_after_retry_after(
    double: KubeDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.emit("shop", "web-1", "app", 4, "a")
    c.throttles.append(Throttle(remaining=2, retry_after="1"))
    kubeconfig = double.kubeconfig(tmp_path / "config", namespace="shop")
    db = tmp_path / "k.db"
    assert main(["collect", "--kubeconfig", str(kubeconfig), "--db", str(db), "--once"]) == 0
    assert capsys.readouterr().err == ""
    assert stored(Store(db)) == {"shop/web-1/app#0": seqs("a", range(4))}
    # Each retry waited the second the server asked for.
    (first_429, _, _), (second_429, _, _) = c.throttled
    with c.cond:
        after = [t for t in c.request_times if t > first_429]
    assert after[0] - first_429 >= 0.95 and after[1] - second_429 >= 0.95


def test_429_in_a_paged_list_resumes_from_its_continue_token(
    double: KubeDouble, store: Store, tmp_path: Path
) -> None:
    c = double.cluster
    for i in range(5):
        c.add_pod("shop", f"web-{i}")
        c.emit("shop", f"web-{i}", "app", 2, f"w{i}")
    # The second page's request is turned away once.
    c.throttles.append(
        Throttle(remaining=1, retry_after="1", match=lambda p, q: len(q.get("continue", "")) > 0)
    )
    timings = replace(FAST, watch=replace(FAST.watch, page_size=2))
    run = Run(double, store, tmp_path, namespaces=["shop"], timings=timings).start()
    try:
        settle(store, {f"shop/web-{i}/app#0": seqs(f"w{i}", range(2)) for i in range(5)})
        tokens = [token for _, token in pod_lists(c)]
        assert tokens[0] == "" and "" not in tokens[1:]  # never back to page 1
        assert len(tokens) == 4 and tokens[1] == tokens[2] != tokens[3]  # page 2 again
        assert run.collector.counts()["lists"] == 1 and run.errors() == []
    finally:
        run.stop()


def test_later_429_waits_retry_after_cut_to_the_cap_and_loses_nothing(
    double: KubeDouble, store: Store, tmp_path: Path
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    c.emit("shop", "web-1", "app", 2, "a")
    timings = replace(FAST, throttle=ThrottleRetry(max_wait_s=0.5))
    run = Run(double, store, tmp_path, namespaces=["shop"], timings=timings).start()
    try:
        # The watch is ended and its renewal turned away for an hour, as far as the
        # server says; the cap keeps klogtui from going blind for that long.
        c.throttles.append(
            Throttle(remaining=1, retry_after="3600", match=lambda p, q: "watch" in q)
        )
        c.end_watches()
        wait_for(lambda: len(c.throttled) == 1, what="429 sent")
        c.add_pod("shop", "web-2")
        c.emit("shop", "web-2", "app", 3, "b")
        settle(
            store,
            {"shop/web-1/app#0": seqs("a", range(2)), "shop/web-2/app#0": seqs("b", range(3))},
        )
        with c.cond:
            retried = [
                t
                for t, (p, q) in zip(c.request_times, c.requests, strict=True)
                if "watch" in q and t > c.throttled[0][0]
            ]
        assert retried[0] - c.throttled[0][0] >= 0.45
        assert run.errors() == []
    finally:
        run.stop()


def test_429_that_does_not_end_is_named_as_an_overloaded_server(
    double: KubeDouble, tmp_path: Path
) -> None:
    double.cluster.throttles.append(Throttle(remaining=100, retry_after="0"))
    kubeconfig = double.kubeconfig(tmp_path / "config")
    options = KubeOptions(
        str(kubeconfig),
        None,
        ["shop"],
        False,
        None,
        timings=replace(FAST, throttle=ThrottleRetry(retries=3)),
    )
    collector = KubeCollector(options, Store(tmp_path / "k.db").start_writer(), CollectorStats())
    with pytest.raises(CollectorError) as info:
        collector.check()
    assert str(info.value) == (
        f"the API server at {double.url} is overloaded: it turned away list pods in namespace "
        "'shop' 4 times (429 Too Many Requests, from its API Priority and Fairness); "
        "try again later"
    )


# -- item 11: TLS warning once, a dead proxy named, pods/log checked up front ----------------


def test_tls_verification_off_is_said_once_not_per_request(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with KubeDouble(FakeCluster(), tls=True) as double:
        double.cluster.add_pod("shop", "web-1")
        double.cluster.emit("shop", "web-1", "app", 3, "a")
        kubeconfig = write_kubeconfig(
            tmp_path / "config",
            double.url,
            "test-token",
            namespace="shop",
            cluster={"server": double.url, "insecure-skip-tls-verify": True},
        )
        db = tmp_path / "k.db"
        assert main(["collect", "--kubeconfig", str(kubeconfig), "--db", str(db), "--once"]) == 0
        requests = len(double.cluster.requests)
    assert requests >= 4  # access check, log check, list, log stream, ...
    assert capfd.readouterr().err == (
        "klogtui: tls: TLS certificate verification is off for context 'double' "
        f"(insecure-skip-tls-verify in {kubeconfig}): the API server at {double.url} is not "
        "checked to be the real one\n"
    )
    assert stored(Store(db)) == {"shop/web-1/app#0": seqs("a", range(3))}


def test_dead_proxy_is_named_not_the_api_server(
    double: KubeDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    kubeconfig = write_kubeconfig(
        tmp_path / "config",
        double.url,
        "test-token",
        cluster={"server": double.url, "proxy-url": proxy},
    )
    code = main(["collect", "--kubeconfig", str(kubeconfig), "--db", str(tmp_path / "k.db")])
    assert code == 1
    assert capsys.readouterr().err == (
        f"klogtui: cannot reach the proxy {proxy} on the way to the Kubernetes API server at "
        f"{double.url} (context 'double'): Connection refused\n"
    )
    assert double.cluster.requests == []


def test_missing_pods_log_permission_is_said_once_before_starting(
    double: KubeDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = double.cluster
    for i in range(3):
        c.add_pod("shop", f"web-{i}")
    c.forbid_logs = True
    kubeconfig = double.kubeconfig(tmp_path / "config")
    code = main(
        ["collect", "-n", "shop", "--kubeconfig", str(kubeconfig), "--db", str(tmp_path / "k.db")]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        "klogtui: not allowed to get pods/log in namespace 'shop' (403 Forbidden: pods is "
        'forbidden: User "system:serviceaccount:test:klogtui" cannot get resource "pods/log" '
        'in API group "" in the namespace "shop"); klogtui needs RBAC permission to get, list '
        "and watch pods, and get pods/log\n"
    )
    assert len(c.requests_to("/log")) == 1  # one check, not one 403 per container
