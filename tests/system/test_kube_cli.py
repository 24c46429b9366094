"""`klogtui collect --kubeconfig` against the API double, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from klogtui.cli import main
from klogtui.store import Store
from tests.kube_double import KubeDouble
from tests.kube_run import seqs, stored


def test_collect_once_stores_every_line_and_resumes_without_duplicates(
    double: KubeDouble, tmp_path: Path
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1", ["app", "proxy"])
    c.add_pod("shop", "web-2")
    c.emit("shop", "web-1", "app", 5, "a")
    c.emit("shop", "web-1", "proxy", 2, "p")
    c.emit("shop", "web-2", "app", 3, "b")
    kubeconfig = str(double.kubeconfig(tmp_path / "kubeconfig"))
    db = tmp_path / "kube.db"
    args = ["collect", "--kubeconfig", kubeconfig, "-n", "shop", "--db", str(db), "--once"]
    assert main(args) == 0
    c.emit("shop", "web-1", "app", 4, "a")
    c.restart("shop", "web-2", "app")
    c.emit("shop", "web-2", "app", 1, "b")
    assert main(args) == 0
    assert stored(Store(db)) == {
        "shop/web-1/app#0": seqs("a", range(9)),
        "shop/web-1/proxy#0": seqs("p", range(2)),
        "shop/web-2/app#0": seqs("b", range(3)),
        "shop/web-2/app#1": seqs("b", range(3, 4)),
    }


def test_collect_reports_a_bad_kubeconfig_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code = main(["collect", "--kubeconfig", str(missing), "--db", str(tmp_path / "k.db")])
    assert code == 1
    assert capsys.readouterr().err == f"klogtui: kubeconfig not found: {missing}\n"


def test_collect_names_the_rbac_needed(
    double: KubeDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    double.cluster.forbid_cluster_scope = True
    kubeconfig = str(double.kubeconfig(tmp_path / "kubeconfig"))
    code = main(["collect", "--kubeconfig", kubeconfig, "-A", "--db", str(tmp_path / "k.db")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("klogtui: not allowed to list pods in all namespaces (403 Forbidden")
    assert "get, list and watch pods, and get pods/log" in err
