"""`klogtui collect --listen`: the query API of a real collector process over a
kubelet-style tree, read over HTTP as the remote reader and curl read it."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.api_node import ApiNode
from tests.helpers_files import cri, lines, seq_of
from tests.kube_double import FakeCluster, KubeDouble
from tests.waiting import wait_for

WAIT_S = 60.0


def _fill(node: ApiNode) -> None:
    """6,000 lines in two namespaces: shop/web-1 seqs 0..3999, data/db-0 4000..5999."""
    node.container("shop", "web-1").append(lines(range(4000)))
    node.container("data", "db-0").append(lines(range(4000, 6000)))


@contextmanager
def _filled_node(root: Path) -> Iterator[ApiNode]:
    n = ApiNode(root)
    _fill(n)
    with n:
        n.wait_ready()
        yield n


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ApiNode]:
    """A node of its own, for a test that writes lines."""
    with _filled_node(tmp_path / "node") as n:
        yield n


@pytest.fixture(scope="module")
def read_node(tmp_path_factory: pytest.TempPathFactory, module_home: None) -> Iterator[ApiNode]:
    """One node shared by the tests that only read it (its start and ingest are most of
    such a test's time)."""
    with _filled_node(tmp_path_factory.mktemp("node")) as n:
        yield n


def _stored(node: ApiNode, q: str = "") -> int | None:
    """Lines stored that match, counted by paging the API (what a reader would do); None
    when a page was refused (503: every read slot taken, e.g. by clients that never read)."""
    total, before = 0, None
    while True:
        params = {"q": q, "limit": 5000} | ({} if before is None else {"before": before})
        reply = node.get("/api/v1/lines", params)
        if reply.status == 503:
            return None
        assert reply.status == 200, reply.body
        page = reply.lines()
        if not page:
            return total
        total += len(page)
        before = page[0]["cursor"]


def _in_store(node: ApiNode) -> int:
    """Lines in the node's store file, read-only (a cheap look beside the collector)."""
    conn = sqlite3.connect(f"file:{node.db}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM lines").fetchone()[0])
    finally:
        conn.close()


def test_pages_backwards_and_forwards_give_every_line_once_in_order(read_node: ApiNode) -> None:
    back: list[dict[str, object]] = []
    before = None
    while True:
        params = {"limit": 700} | ({} if before is None else {"before": before})
        page = read_node.get("/api/v1/lines", params).lines()
        if not page:
            break
        back = page + back
        before = page[0]["cursor"]
    seqs = [seq_of(str(x["message"])) for x in back]
    assert seqs == list(range(6000))  # T0 + seq ms: time order is seq order

    fwd: list[dict[str, object]] = []
    after = "0"  # from the oldest
    while True:
        params = {"limit": 999, "after": after}
        page = read_node.get("/api/v1/lines", params).lines()
        if not page:
            break
        fwd += page
        after = page[-1]["cursor"]
    assert fwd == back


def test_a_line_is_what_klogtui_query_prints_plus_its_cursor(read_node: ApiNode) -> None:
    api = read_node.get("/api/v1/lines", {"q": "ns=data", "limit": 3}).lines()
    printed = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", "--db", str(read_node.db), "-o", "jsonl"]
        + ["--limit", "3", "ns=data"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=True,
    ).stdout
    assert [{k: v for k, v in x.items() if k != "cursor"} for x in api] == [
        json.loads(x) for x in printed.splitlines()
    ]
    assert [seq_of(x["message"]) for x in api] == [5997, 5998, 5999]


def test_a_huge_limit_is_cut_to_the_maximum_and_says_so(read_node: ApiNode) -> None:
    reply = read_node.get("/api/v1/lines", {"limit": 10**30})
    assert reply.status == 200
    assert reply.headers["x-klogtui-limit"] == "5000"
    assert [seq_of(x["message"]) for x in reply.lines()] == list(range(1000, 6000))


@pytest.mark.parametrize(
    ("q", "column"), [("ns=shop level=bogus", 14), ("pod=~(", 5), ("since:xyz", 6)]
)
def test_a_bad_query_is_400_with_its_column(read_node: ApiNode, q: str, column: int) -> None:
    for path in ("/api/v1/lines", "/api/v1/facets", "/api/v1/histogram", "/api/v1/tail"):
        reply = read_node.get(path, {"q": q})
        assert reply.status == 400, path
        body = reply.json()
        assert body["column"] == column and body["error"], body


def test_bad_parameters_are_400_with_a_message(read_node: ApiNode) -> None:
    for params in ({"limit": "ten"}, {"before": "1", "after": "2"}, {"limit": "-1"}):
        reply = read_node.get("/api/v1/lines", params)
        assert reply.status == 400 and reply.json()["error"], params
    assert read_node.get("/api/v1/histogram", {"buckets": 0}).status == 400
    assert read_node.get("/api/v1/facets", {"field": "colour"}).status == 400
    assert read_node.get("/api/v1/nothing").status == 404


def test_facets_histogram_and_sources_count_what_is_stored(read_node: ApiNode) -> None:
    facets = read_node.get("/api/v1/facets", {"q": "", "field": "namespace"}).json()
    assert facets == {"facets": {"namespace": [["shop", 4000], ["data", 2000]]}, "exact": True}
    hist = read_node.get("/api/v1/histogram", {"q": "ns=data", "buckets": 4}).json()
    assert sum(b["total"] for b in hist["buckets"]) == 2000 and len(hist["buckets"]) == 4
    sources = read_node.get("/api/v1/sources").json()["sources"]
    assert sorted((s["namespace"], s["pod"], s["lines"]) for s in sources) == [
        ("data", "db-0", 2000),
        ("shop", "web-1", 4000),
    ]


def test_event_fields_and_their_values_are_counted_over_the_newest_matches(
    tmp_path: Path,
) -> None:
    n = ApiNode(tmp_path / "node")
    events = [{"msg": f"seq={s}", "status": 500 if s % 4 == 0 else 200} for s in range(40)]
    n.container("shop", "api").append(
        b"".join(cri(s, text=json.dumps(e)) for s, e in enumerate(events))
    )
    n.container("shop", "web").append(lines(range(100, 110)))  # no event fields
    with n:
        n.wait_ready()
        wait_for(lambda: n.get("/api/v1/fields").json()["fields"] != [], WAIT_S, "fields")
        assert n.get("/api/v1/fields").json() == {"fields": [[".status", 40]]}
        assert n.get("/api/v1/fields", {"q": "pod=web"}).json() == {"fields": []}
        got = n.get("/api/v1/field-values", {"field": ".status"}).json()
        assert got == {"values": [["200", 30], ["500", 10]], "exact": True}
        # A sample of the newest 8 holding the field: counted so, and said not exact.
        got = n.get("/api/v1/field-values", {"field": ".status", "sample": 8}).json()
        assert got == {"values": [["200", 6], ["500", 2]], "exact": False}
        # Without API access nothing has labels; the facet still answers.
        assert n.get("/api/v1/facets", {"field": "labels"}).json()["facets"] == {"labels": []}
        for params in ({"field": "status"}, {}, {"field": ".status", "sample": "x"}):
            reply = n.get("/api/v1/field-values", params)
            assert reply.status == 400 and reply.json()["error"], params


class _Tail:
    """A raw /tail connection, its chunked body read as it comes."""

    def __init__(self, port: int, q: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        path = "/api/v1/tail?q=" + q.replace(" ", "%20")
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.buf = b""

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def events(self, n: int) -> list[dict[str, object]]:
        """Read until n events came (the chunk framing parsed away)."""
        out: list[dict[str, object]] = []
        body = b""
        deadline = time.monotonic() + WAIT_S
        while len(out) < n:
            assert time.monotonic() < deadline, f"only {len(out)} of {n} events came"
            while b"\r\n" in self.buf:
                size_text, rest = self.buf.split(b"\r\n", 1)
                size = int(size_text, 16)
                if len(rest) < size + 2:
                    break
                body += rest[:size]
                self.buf = rest[size + 2 :]
            while b"\n" in body:
                line, body = body.split(b"\n", 1)
                out.append(json.loads(line))
            if len(out) < n:
                self.buf += self.sock.recv(65536)
        return out


def test_tail_streams_the_new_matching_lines_in_order(node: ApiNode) -> None:
    tail = _Tail(node.port, "ns=shop")
    assert b" 200 " in tail.head()
    node.container("data", "db-0").append(lines(range(6000, 6100)))  # not matching
    node.container("shop", "web-1").append(lines(range(6100, 6300)))
    got = tail.events(200)
    assert [seq_of(str(x["message"])) for x in got] == list(range(6100, 6300))
    assert all(x["namespace"] == "shop" and x["cursor"] for x in got)
    tail.sock.close()


def test_a_client_that_hangs_up_mid_stream_leaves_nothing_behind(node: ApiNode) -> None:
    tails = [_Tail(node.port, "") for _ in range(5)]
    for t in tails:
        t.head()
    node.container("shop", "web-1").append(lines(range(6000, 7000)))
    tails[0].events(10)
    for t in tails:
        t.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        t.sock.close()  # a reset, mid-body
    node.container("shop", "web-1").append(lines(range(7000, 8000)))
    wait_for(lambda: _stored(node) == 8000, WAIT_S, "the lines after the hang-ups stored")

    def connections() -> float:
        text = node.get("/metrics").body.decode()
        return float(text.split("\nklogtui_api_connections ", 1)[1].split()[0])

    # The scrape's own connection is the only one left: every tail's thread ended.
    wait_for(lambda: connections() == 1.0, WAIT_S, "the tails' connections closed")


def test_clients_that_never_read_do_not_delay_ingest(node: ApiNode) -> None:
    stuck = []
    for _ in range(8):  # each asks for 5,000 lines (~1.3 MB) and reads none of it
        s = socket.create_connection(("127.0.0.1", node.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /api/v1/lines?limit=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
        stuck.append(s)
    tail = socket.create_connection(("127.0.0.1", node.port))
    tail.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    tail.sendall(b"GET /api/v1/tail HTTP/1.1\r\nHost: x\r\n\r\n")
    stuck.append(tail)
    started = time.monotonic()
    big = b"x" * 200
    for i in range(20):
        node.container("shop", "web-1").append(
            b"".join(
                cri(s, text=f"seq={s} {big.decode()}")
                for s in range(6000 + i * 1000, 7000 + i * 1000)
            )
        )
    # Watched in the store file itself: paging 26,000 lines through the API at every poll
    # would compete with the ingest it measures (and for the read slots).
    wait_for(lambda: _in_store(node) == 26000, WAIT_S, "20,000 lines stored while clients hang")
    took = time.monotonic() - started
    assert _stored(node) == 26000  # and the API serves them all
    # Ingest of 20,000 lines takes well under a second on its own; the bound is loose
    # for a loaded machine, and far below the 10 s a stuck write may block a thread.
    assert took < 10.0, took
    assert node.get("/healthz").status == 200
    for s in stuck:
        s.close()


def test_a_catastrophic_regex_costs_its_budget_and_no_more(tmp_path: Path) -> None:
    # The budget is a second of CPU (the regex module's timeout counts CPU time): on a
    # loaded machine that is many seconds of wall time, past the default 10 s limit
    # on a request. A limit far beyond it leaves the budget to say no.
    n = ApiNode(tmp_path / "node", "--query-time-limit", "300")
    n.container("shop", "a" * 38 + "-x").append(lines(range(10)))
    with n:
        n.wait_ready()
        reply = n.get("/api/v1/lines", {"q": "pod=~(a|a)+$"})  # 2**38 ways to fail
        # 400 with the budget's message, not the request's 10 s limit (503), nor a hang.
        assert reply.status == 400 and "took longer than 1 s" in reply.json()["error"], reply.body
        assert n.get("/api/v1/lines", {"limit": 1}).status == 200


def test_promtool_accepts_the_metrics(read_node: ApiNode) -> None:
    reply = read_node.get("/metrics")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
    text = reply.body.decode()
    assert 'klogtui_events_ingested_total{source="shop/web-1/app#0"} 4000.0' in text
    assert "klogtui_store_bytes " in text and "klogtui_last_commit_timestamp_seconds " in text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=reply.body, capture_output=True, timeout=WAIT_S
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_port_beyond_loopback_without_api_access_is_refused(tmp_path: Path) -> None:
    n = ApiNode(tmp_path)
    _fill(n)
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(n.log_dir)]
        + ["--db", str(tmp_path / "s.db"), "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert done.returncode == 1
    assert "--in-cluster or --kubeconfig" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")
def test_kubectl_reads_the_api_through_the_doubles_pod_proxy(
    read_node: ApiNode, tmp_path: Path
) -> None:
    with KubeDouble(FakeCluster(), tls=True) as double:
        double.cluster.pod_hosts[("klogtui", "collector-a")] = "127.0.0.1"
        kubeconfig = double.kubeconfig(tmp_path / "config")
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache")]
            + ["get", "--raw"]
            + [
                f"/api/v1/namespaces/klogtui/pods/collector-a:{read_node.port}/proxy/api/v1/lines"
                "?q=ns%3Ddata&limit=2"
            ],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
    assert done.returncode == 0, done.stderr
    assert [seq_of(json.loads(x)["message"]) for x in done.stdout.splitlines()] == [5998, 5999]
