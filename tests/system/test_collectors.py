"""`klogtui query --collectors`: three real `klogtui collect --listen` nodes behind the
API double's pod proxy, read as one timeline by real `klogtui query` processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cluster_nodes import NS, Cluster, Follower, run_klogtui
from tests.helpers_files import seq_of
from tests.kube_double import FakeCluster, KubeDouble


@contextmanager
def _users_double() -> Iterator[KubeDouble]:
    cluster = FakeCluster(token="collector-token")
    users = cluster.users
    users.add("alice", "alice-token", logs_in=("shop",), proxy_in=(NS,))
    users.add("bob", "bob-token", logs_in=("data",), proxy_in=(NS,))
    users.add("carol", "carol-token", logs_in=("shop", "data"))  # no pods/proxy
    users.add("root", "root-token", logs_in=("*",), proxy_in=(NS,))
    with KubeDouble(cluster) as d:
        yield d


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with _users_double() as d:
        yield d


def _three_nodes(root: Path, double: KubeDouble) -> Cluster:
    """Three nodes; each holds every third line of shop/web and of data/db (the seqs
    are the lines' timestamps, so the merged timeline interleaves all three)."""
    c = Cluster(root, double, 3)
    for i in range(3):
        c.write(i, f"shop/web-{i}", range(i, 900, 3))
        c.write(i, f"data/db-{i}", range(1000 + i, 1300, 3))
    return c


@pytest.fixture
def nodes(tmp_path: Path, double: KubeDouble) -> Iterator[Cluster]:
    """The three nodes, fresh for a test that changes them (stops one, adds a pod,
    writes lines)."""
    with _three_nodes(tmp_path, double) as c:
        yield c


@pytest.fixture(scope="module")
def read_nodes(tmp_path_factory: pytest.TempPathFactory, module_home: None) -> Iterator[Cluster]:
    """The same three nodes shared by the tests that only read them: starting three
    collectors and their ingest is most of such a test's time."""
    with _users_double() as d, _three_nodes(tmp_path_factory.mktemp("nodes"), d) as c:
        yield c


def _query(c: Cluster, user: str, token: str | None, *args: str):  # type: ignore[no-untyped-def]
    return run_klogtui(
        "query", "--kubeconfig", str(c.kubeconfig(user, token)), "--collectors", *args
    )


def test_three_nodes_print_one_timeline_each_line_once_in_order(read_nodes: Cluster) -> None:
    done = _query(read_nodes, "root", "root-token", "-o", "jsonl", "--limit", "0")
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    # Exactly the union of the three stores read locally, in time order.
    assert printed == read_nodes.local_jsonl()
    seqs = [seq_of(json.loads(x)["message"]) for x in printed]
    assert seqs == [*range(900), *range(1000, 1300)]
    assert {json.loads(x)["pod"] for x in printed} == {
        *(f"web-{i}" for i in range(3)),
        *(f"db-{i}" for i in range(3)),
    }


def test_the_newest_n_are_the_newest_of_the_whole_cluster(read_nodes: Cluster) -> None:
    done = _query(read_nodes, "root", "root-token", "--limit", "7", "ns=shop")
    assert done.returncode == 0, done.stderr
    assert [seq_of(x) for x in done.stdout.splitlines()] == list(range(893, 900))
    assert all(" shop/web-" in x for x in done.stdout.splitlines())


def test_a_node_that_does_not_answer_is_named_and_the_result_is_partial(
    nodes: Cluster,
) -> None:
    nodes.nodes[1].kill()
    done = _query(nodes, "root", "root-token", "-o", "jsonl", "--limit", "0", "ns=shop")
    assert done.returncode == 3, done.stderr
    assert "partial result" in done.stderr and "node-1 (collector-1)" in done.stderr
    assert "node-0" not in done.stderr and "node-2" not in done.stderr
    seqs = [seq_of(json.loads(x)["message"]) for x in done.stdout.splitlines()]
    assert seqs == [s for s in range(900) if s % 3 != 1]


def test_a_collector_pod_not_ready_is_named_as_missing(nodes: Cluster, double: KubeDouble) -> None:
    double.cluster.add_pod(
        NS,
        "collector-9",
        ("collector",),
        labels={"app.kubernetes.io/name": "klogtui", "app.kubernetes.io/component": "collector"},
        node="node-9",
        start=False,
    )
    done = _query(nodes, "root", "root-token", "--limit", "0", "ns=shop")
    assert done.returncode == 3
    assert "node-9 (collector-9)" in done.stderr and "Pending" in done.stderr
    assert len(done.stdout.splitlines()) == 900


def test_each_user_sees_only_the_namespaces_they_may_read(read_nodes: Cluster) -> None:
    alice = _query(read_nodes, "alice", "alice-token", "--limit", "0")
    bob = _query(read_nodes, "bob", "bob-token", "--limit", "0")
    assert alice.returncode == 0 and bob.returncode == 0, (alice.stderr, bob.stderr)
    assert [seq_of(x) for x in alice.stdout.splitlines()] == list(range(900))
    assert [seq_of(x) for x in bob.stdout.splitlines()] == list(range(1000, 1300))
    # Naming another namespace is refused, not answered with nothing.
    denied = _query(read_nodes, "alice", "alice-token", "ns=data")
    assert denied.returncode == 1 and "namespace 'data'" in denied.stderr
    assert denied.stdout == ""


def test_without_pods_proxy_the_message_names_the_permission(read_nodes: Cluster) -> None:
    done = _query(read_nodes, "carol", "carol-token", "--limit", "0")
    assert done.returncode == 1 and done.stdout == ""
    assert "pods/proxy" in done.stderr and "klogtui-reader" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_token_nothing_is_read_and_the_user_is_told_why(read_nodes: Cluster) -> None:
    done = _query(read_nodes, "dave", None, "--limit", "0")
    assert done.returncode == 1 and done.stdout == ""
    assert "kubectl create token" in done.stderr and "Traceback" not in done.stderr
    forged = _query(read_nodes, "eve", "forged-token", "--limit", "0")
    assert forged.returncode == 1 and forged.stdout == ""
    assert "Traceback" not in forged.stderr


def test_follow_merges_the_nodes_tails_and_names_a_node_that_stops(nodes: Cluster) -> None:
    kubeconfig = nodes.kubeconfig("root", "root-token")
    with Follower(kubeconfig, "ns=shop", "--limit", "3") as f:
        assert [seq_of(x) for x in f.take(3)] == [897, 898, 899]
        nodes.write(2, "shop/web-2", [5000])
        nodes.write(0, "shop/web-0", [5001])
        assert sorted(seq_of(x) for x in f.take(2)) == [5000, 5001]
        nodes.nodes[1].kill()
        f.wait_stderr("node-1 (collector-1)")
        nodes.write(0, "shop/web-0", [5002])
        assert [seq_of(x) for x in f.take(1)] == [5002]
        # Each line once: the next line printed is the next one written.
        nodes.write(2, "shop/web-2", [5003])
        assert [seq_of(x) for x in f.take(1)] == [5003]


def test_results_past_one_answer_are_paged_per_node_exactly(
    tmp_path: Path, double: KubeDouble
) -> None:
    # More matches per node than one API answer holds (5,000): read page by page.
    c = Cluster(tmp_path, double, 2)
    c.write(0, "shop/web-0", range(0, 13_000, 2))
    c.write(1, "shop/web-1", range(1, 13_000, 2))
    with c:
        newest = _query(c, "root", "root-token", "--limit", "11000")
        assert newest.returncode == 0, newest.stderr
        assert [seq_of(x) for x in newest.stdout.splitlines()] == list(range(2_000, 13_000))
        every = _query(c, "root", "root-token", "-o", "jsonl", "--limit", "0")
        assert every.returncode == 0, every.stderr
        assert every.stdout.splitlines() == c.local_jsonl()
