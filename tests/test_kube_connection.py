"""Remote mode's connection to a cluster, as a user meets it through `klogtui collect`:
which store a context's lines go to, the client library it needs, throttling by the
API server, proxies, TLS and permissions. Everything runs against the API double."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client import ApiClient

from klogtui.cli import main
from klogtui.collect.kube.connect import MIN_CLIENT_MAJOR
from klogtui.store import Store, default_db_path
from tests.kube_double import FakeCluster, KubeDouble
from tests.test_kube_collect import seqs, stored

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(FakeCluster()) as d:
        yield d


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
