"""The explorer over a cluster's collectors (`klogtui --collectors`), driven by Pilot:
three real `klogtui collect --listen` nodes behind the API double's pod proxy."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import OptionList

from klogtui.query.parsed import ParsedQuery
from klogtui.remote.command import open_collectors
from klogtui.remote.reader import open_cluster
from klogtui.ui.app import KlogApp
from klogtui.ui.screens.context import ContextScreen
from klogtui.ui.screens.facets import FacetScreen
from klogtui.ui.widgets.query_bar import event_fields
from tests.cluster_nodes import NS, Cluster
from tests.helpers_files import T0, Container, cri, seq_of
from tests.kube_double import FakeCluster, KubeDouble
from tests.ui_fixtures import settle, text_of, until
from tests.waiting import wait_for

SIZE = (160, 45)
WAIT_S = 30.0


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Cluster]:
    cluster = FakeCluster(token="collector-token")
    cluster.users.add("alice", "alice-token", logs_in=("shop",), proxy_in=(NS,))
    with KubeDouble(cluster) as double:
        c = Cluster(tmp_path, double, 3)
        for i in range(3):
            c.write(i, f"shop/web-{i}", range(i, 300, 3))
            c.write(i, f"data/db-{i}", range(1000 + i, 1030, 3))  # alice may not read these
        with c:
            yield c


def _args(nodes: Cluster) -> argparse.Namespace:
    return argparse.Namespace(
        kubeconfig=str(nodes.kubeconfig("alice", "alice-token")),
        context=None,
        collectors_namespace=NS,
    )


def _app(nodes: Cluster, tmp_path: Path) -> KlogApp:
    source = open_cluster(*open_collectors(_args(nodes)), NS)
    return KlogApp(source, history_path=None, save_dir=tmp_path)


def _options(options: OptionList) -> list[str]:
    shown = (options.get_option_at_index(i).prompt for i in range(options.option_count))
    return [" ".join(str(p).split()) for p in shown]


def _seqs(app: KlogApp) -> list[int]:
    return [seq_of(row) for row in app.log_view.rendered_rows() if "seq=" in row]


async def test_the_explorer_reads_every_node_as_one_log(nodes: Cluster, tmp_path: Path) -> None:
    app = _app(nodes, tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            # The newest lines of all three nodes, interleaved in time, alice's only.
            await until(pilot, lambda: _seqs(app)[-6:] == list(range(294, 300)), WAIT_S)
            rows = app.log_view.rendered_rows()
            assert all(any(f"web-{i}" in r for r in rows) for i in range(3)), rows
            assert not any("db-" in r for r in rows)
            # The histogram sums the nodes' counts; the tree lists every node's pods.
            await until(pilot, lambda: sum(b.total for b in app.histogram._buckets) == 300)
            await until(pilot, lambda: "web-2" in text_of(app.sources_tree), WAIT_S)
            tree = text_of(app.sources_tree)
            assert "web-0" in tree and "web-1" in tree and "db-0" not in tree
            # The status line says what is true of the cluster: no store size, no
            # "no collector", the lines the nodes hold for alice and who answers.
            await until(pilot, lambda: "300 lines" in app.status_bar.render().plain, WAIT_S)
            status = app.status_bar.render().plain
            assert "3 of 3 nodes answering" in status, status
            assert "no collector" not in status and " B" not in status, status
            # Scrolling to the top pages back through every node, exactly.
            await pilot.press("g")
            await until(pilot, lambda: _seqs(app)[:5] == [0, 1, 2, 3, 4], WAIT_S)
            await pilot.press("G")
            await until(pilot, lambda: _seqs(app)[-1:] == [299], WAIT_S)
            # The context of the newest line: its own container's lines, on its node.
            await pilot.press("space", "c")
            await until(pilot, lambda: isinstance(app.screen, ContextScreen), WAIT_S)
            assert isinstance(app.screen, ContextScreen)
            around = [seq_of(ln.message) for ln in app.screen.lines]
            assert around[-1] == 299 and around == list(range(299 - 3 * (len(around) - 1), 300, 3))
            await pilot.press("escape")
            # The facets add the nodes' counts up.
            await pilot.press("f")
            await until(pilot, lambda: isinstance(app.screen, FacetScreen), WAIT_S)
            values = app.screen.query_one("#facet-values", OptionList)
            await until(pilot, lambda: _options(values)[:1] == ["300 shop"], WAIT_S)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, FacetScreen), WAIT_S)
            await pilot.press("space")  # follow again
            # Follow: a line written on one node shows up at the bottom.
            nodes.write(1, "shop/web-1", [5000])
            await until(pilot, lambda: _seqs(app)[-1:] == [5000], WAIT_S)
            # A node that stops answering is named on screen.
            nodes.nodes[2].kill()
            nodes.write(0, "shop/web-0", [5001])
            await until(pilot, lambda: _seqs(app)[-1:] == [5001], WAIT_S)
            await until(
                pilot, lambda: "MISSING node-2 (collector-2)" in app.status_bar.render().plain
            )
            assert "2 of 3 nodes answering" in app.status_bar.render().plain
    finally:
        app.store.close()  # type: ignore[attr-defined]


def _json_lines(node: int, seqs: range) -> bytes:
    """JSON events with an event field `status` (one value per node) at T0 + seq ms."""
    return b"".join(
        cri(s, text=json.dumps({"msg": f"seq={s}", "status": 200 + node})) for s in seqs
    )


async def test_event_fields_and_label_keys_are_summed_over_the_nodes(
    nodes: Cluster, tmp_path: Path
) -> None:
    # Two nodes run a labelled pod (known to the API, so their collectors store the
    # labels) whose events carry a field; node 0's 20 events say 200, node 1's 10 say 201.
    for i, count in ((0, 20), (1, 10)):
        uid = nodes.double.cluster.add_pod(
            "shop", f"api-{i}", labels={"team": f"t{i}"}, node=f"node-{i}"
        )
        api = Container(nodes.nodes[i].log_dir, "shop", f"api-{i}", uid)
        api.append(_json_lines(i, range(2000, 2000 + count)))
    app = _app(nodes, tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            reader = app.store.reader()
            await until(pilot, lambda: reader.field_names("") == [(".status", 30)], WAIT_S)
            assert reader.field_values("", ".status") == ([("200", 20), ("201", 10)], True)
            # What the query bar completes after `.` and after `.status=`.
            assert event_fields(reader, "") == [".status"]
            assert event_fields(reader, ".status") == ["200", "201"]
            # The labels come with the pod's details, maybe after its first lines.
            labels = ([("team=t0", 20), ("team=t1", 10)], True)
            await until(pilot, lambda: reader.facets("pod=api-*", "labels") == labels, WAIT_S)
            # The facets screen lists the event field and the label key, with the
            # nodes' counts summed.
            await pilot.press("f")
            await until(pilot, lambda: isinstance(app.screen, FacetScreen), WAIT_S)
            fields = app.screen.query_one("#facet-fields", OptionList)
            await until(pilot, lambda: {".status", "label:team"} <= set(_options(fields)), WAIT_S)
            fields.highlighted = _options(fields).index("label:team")
            await pilot.press("enter")
            values = app.screen.query_one("#facet-values", OptionList)
            await until(pilot, lambda: _options(values) == ["20 t0", "10 t1"], WAIT_S)
    finally:
        app.store.close()  # type: ignore[attr-defined]


@pytest.fixture
def reader_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process (the explorer) in UTC+05:30, a zone no node has."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_zoneless_times_are_read_in_the_explorers_zone_not_the_nodes(
    tmp_path: Path, reader_zone: None
) -> None:
    cluster = FakeCluster(token="collector-token")
    cluster.users.add("alice", "alice-token", logs_in=("shop",), proxy_in=(NS,))
    with KubeDouble(cluster) as double:
        c = Cluster(tmp_path, double, 3, {"TZ": "MST+07"})  # the nodes 7 h behind UTC
        for i in range(3):
            c.write(i, f"shop/web-{i}", range(i, 300, 3))
        try:
            source = open_cluster(*open_collectors(_args(c.start())), NS)
            try:
                reader = source.reader()
                wait_for(lambda: len(reader.oldest("", 1000)) == 300, WAIT_S, "every line stored")
                # T0 + 150 ms as the explorer shows it in local time (`z`), without a zone.
                local = datetime.fromtimestamp(T0 // 1_000_000_000) + timedelta(milliseconds=150)
                until = ParsedQuery.of(f"until:{local:%Y-%m-%dT%H:%M:%S.%f}").in_zone("local")
                assert [seq_of(ln.message) for ln in reader.oldest(until, 1000)] == list(range(150))
                # The same time in UTC, shown without a zone in the explorer's default.
                utc = datetime.fromtimestamp(T0 // 1_000_000_000, UTC) + timedelta(milliseconds=150)
                since = ParsedQuery.of(f"since:{utc:%Y-%m-%dT%H:%M:%S.%f}")
                got = [seq_of(ln.message) for ln in reader.oldest(since, 1000)]
                assert got == list(range(150, 300))
            finally:
                source.close()
        finally:
            c.close()
