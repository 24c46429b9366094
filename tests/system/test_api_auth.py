"""The query API with API access: each caller checked with TokenReview, answered only
with the namespaces where SubjectAccessReview lets them `get pods/log`; read directly
and through the API double's pod proxy, as a remote reader reads it."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.api_node import ApiNode, Reply
from tests.helpers_files import lines, seq_of
from tests.kube_double import FakeCluster, KubeDouble

NS = "klogtui"  # where the collector pods run


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    cluster = FakeCluster(token="collector-token")
    users = cluster.users
    users.add("alice", "alice-token", logs_in=("shop",), proxy_in=(NS,))
    users.add("bob", "bob-token", logs_in=("data",), proxy_in=(NS,))
    users.add("carol", "carol-token", logs_in=("shop", "data"))  # no pods/proxy
    users.add("prom", "prom-token", paths=("/metrics",))
    with KubeDouble(cluster) as d:
        yield d


def _node(root: Path, double: KubeDouble, name: str, pods: dict[str, range]) -> ApiNode:
    kubeconfig = double.kubeconfig(root / "kubeconfig")
    node = ApiNode(root / name, "--kubeconfig", str(kubeconfig))
    for ns_pod, seqs in pods.items():
        ns, pod = ns_pod.split("/")
        node.container(ns, pod).append(lines(seqs))
    return node


@pytest.fixture
def node(tmp_path: Path, double: KubeDouble) -> Iterator[ApiNode]:
    with _node(
        tmp_path, double, "node-1", {"shop/web-1": range(100), "data/db-0": range(100, 150)}
    ) as n:
        n.wait_ready()
        yield n


def _seqs(reply: Reply) -> list[int]:
    assert reply.status == 200, reply.body
    return [seq_of(x["message"]) for x in reply.lines()]


def test_each_user_sees_only_the_namespaces_they_may_read(
    node: ApiNode, double: KubeDouble
) -> None:
    assert _seqs(node.get("/api/v1/lines", {}, "alice-token")) == list(range(100))
    assert _seqs(node.get("/api/v1/lines", {}, "bob-token")) == list(range(100, 150))
    assert _seqs(node.get("/api/v1/lines", {}, "carol-token")) == list(range(150))
    sources = node.get("/api/v1/sources", {}, "bob-token").json()["sources"]
    assert [(s["namespace"], s["pod"]) for s in sources] == [("data", "db-0")]
    facets = node.get("/api/v1/facets", {"field": "namespace"}, "alice-token").json()
    assert facets["facets"]["namespace"] == [["shop", 100]]
    hist = node.get("/api/v1/histogram", {"buckets": 1}, "bob-token").json()
    assert hist["buckets"][0]["total"] == 50
    # A glob or a negation cannot widen what a caller sees.
    assert _seqs(node.get("/api/v1/lines", {"q": "ns=*"}, "alice-token")) == list(range(100))
    assert _seqs(node.get("/api/v1/lines", {"q": "-ns=shop"}, "alice-token")) == []


def test_a_query_naming_a_forbidden_namespace_is_403(node: ApiNode) -> None:
    paths = ("/api/v1/lines", "/api/v1/facets", "/api/v1/fields", "/api/v1/tail")
    for path in (*paths, "/api/v1/field-values"):
        field = {"field": ".x"} if path.endswith("field-values") else {}
        reply = node.get(path, {"q": "ns=data error", **field}, "alice-token")
        assert reply.status == 403, path
        assert "namespace 'data'" in reply.json()["error"]
        assert b"seq=" not in reply.body


def test_without_valid_credentials_nothing_is_answered(node: ApiNode) -> None:
    for token in (None, "", "forged-token"):
        for path in (
            "/api/v1/lines",
            "/api/v1/sources",
            "/api/v1/facets",
            "/api/v1/fields",
            "/api/v1/field-values",
            "/api/v1/tail",
        ):
            reply = node.get(path, {}, token)
            assert reply.status == 401, (token, path)
            assert b"seq=" not in reply.body and b"shop" not in reply.body
            assert (
                "X-Klogtui-Token" in reply.json()["error"]
                or "not accepted" in reply.json()["error"]
            )
    # Probes carry no token: health and readiness stay open.
    assert node.get("/healthz").status == 200 and node.get("/readyz").status == 200


def test_metrics_need_a_user_allowed_to_get_them(node: ApiNode) -> None:
    assert node.get("/metrics").status == 401
    assert node.get("/metrics", token="alice-token").status == 403
    reply = node.get("/metrics", token="prom-token")
    assert reply.status == 200 and b"klogtui_events_ingested_total" in reply.body


def test_reviews_are_cached_not_asked_per_request(node: ApiNode, double: KubeDouble) -> None:
    for _ in range(10):
        node.get("/api/v1/lines", {"limit": 1}, "alice-token")
    kinds = [r["kind"] for r in double.cluster.users.reviews]
    assert kinds.count("TokenReview") == 1
    # One SubjectAccessReview per namespace in the store (shop, data), once each.
    assert kinds.count("SubjectAccessReview") == 2


def _proxied(
    double: KubeDouble, pod: str, port: int, path: str, params: dict[str, Any], token: str | None
) -> Reply:
    headers = (
        {} if token is None else {"Authorization": f"Bearer {token}", "X-Klogtui-Token": token}
    )
    url = f"/api/v1/namespaces/{NS}/pods/{pod}:{port}/proxy{path}?{urlencode(params)}"
    host, port_text = double.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port_text), timeout=60)
    try:
        conn.request("GET", url, headers=headers)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def test_through_the_pod_proxy_the_callers_own_rights_apply(
    node: ApiNode, double: KubeDouble
) -> None:
    double.cluster.pod_hosts[(NS, "collector-a")] = "127.0.0.1"
    reply = _proxied(double, "collector-a", node.port, "/api/v1/lines", {}, "bob-token")
    assert _seqs(reply) == list(range(100, 150))
    # carol may read the logs but not use the proxy: the API server refuses her.
    refused = _proxied(double, "collector-a", node.port, "/api/v1/lines", {}, "carol-token")
    assert refused.status == 403
    assert 'cannot get resource "pods/proxy"' in refused.json()["message"]
    assert _proxied(double, "collector-a", node.port, "/api/v1/lines", {}, None).status == 401


def test_three_nodes_through_the_proxy_merge_into_one_timeline(
    tmp_path: Path, double: KubeDouble
) -> None:
    # Interleaved seqs (their timestamps): each node holds every third line.
    nodes = [
        _node(tmp_path, double, f"node-{i}", {f"shop/web-{i}": range(i, 900, 3)}) for i in range(3)
    ]
    try:
        for i, n in enumerate(nodes):
            n.start()
            double.cluster.pod_hosts[(NS, f"collector-{i}")] = "127.0.0.1"
        for n in nodes:
            n.wait_ready()
        merged: list[tuple[str, int]] = []
        for i, n in enumerate(nodes):
            reply = _proxied(
                double, f"collector-{i}", n.port, "/api/v1/lines", {"limit": 1000}, "alice-token"
            )
            merged += [(x["ts"], seq_of(x["message"])) for x in reply.lines()]
        assert [s for _, s in sorted(merged)] == list(range(900))
        nodes[1].kill()
        gone = _proxied(double, "collector-1", nodes[1].port, "/api/v1/lines", {}, "alice-token")
        assert gone.status == 503 and "error trying to reach service" in gone.json()["message"]
    finally:
        for n in nodes:
            n.kill()


def test_when_the_api_server_cannot_be_asked_the_answer_is_503_not_logs(
    node: ApiNode, double: KubeDouble
) -> None:
    double.stop()
    reply = node.get("/api/v1/lines", {}, "alice-token")
    assert reply.status == 503 and reply.headers["retry-after"] == "5"
    assert "cannot check credentials" in reply.json()["error"] and b"seq=" not in reply.body
    assert node.get("/healthz").status == 200
