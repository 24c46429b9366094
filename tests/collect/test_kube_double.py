"""The API double speaks the protocol the official `kubernetes` client expects.

These tests use only the official client (models, Watch, read_namespaced_pod_log) over
real HTTP, so the double's answers are checked against the client's own parsing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict, Unpack

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.kube_double import NS, KubeDouble, format_ts, parse_ts

# The client's models make every field Optional; the double always fills these in, so the
# helpers below assert that before reading them.


def name_of(obj: client.V1Pod | client.V1Namespace) -> str:
    assert obj.metadata is not None and obj.metadata.name is not None
    return obj.metadata.name


def list_meta(pods: client.V1PodList) -> client.V1ListMeta:
    assert pods.metadata is not None
    return pods.metadata


def version_of(pods: client.V1PodList) -> str:
    version = list_meta(pods).resource_version
    assert version is not None
    return version


def raw(resp: object) -> urllib3.BaseHTTPResponse:
    """A call made with `_preload_content=False`: the client returns urllib3's response,
    though its annotations name the parsed model."""
    assert isinstance(resp, urllib3.BaseHTTPResponse)
    return resp


@pytest.fixture
def api(double: KubeDouble, tmp_path: Path) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(
        config_file=str(double.kubeconfig(tmp_path / "kubeconfig")), persist_config=False
    )
    yield client.CoreV1Api(api_client)
    api_client.close()


def test_timestamps_format_like_go() -> None:
    assert format_ts(1_795_000_000 * NS) == "2026-11-18T11:06:40Z"
    assert format_ts(1_795_000_000 * NS + 120_000_000) == "2026-11-18T11:06:40.12Z"
    assert parse_ts("2026-11-18T12:06:40.12+01:00") == 1_795_000_000 * NS + 120_000_000


def test_lists_namespaces_and_pods_with_selectors(
    double: KubeDouble, api: client.CoreV1Api
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1", ["app", "proxy"], labels={"app": "web", "tier": "front"})
    c.add_pod("shop", "db-1", labels={"app": "db"})
    c.add_pod("pay", "api-1", labels={"app": "api"})
    assert [name_of(n) for n in api.list_namespace().items] == ["default", "shop", "pay"]
    pods = api.list_namespaced_pod("shop")
    assert [name_of(p) for p in pods.items] == ["db-1", "web-1"]
    assert int(version_of(pods)) == c.rv
    web = pods.items[1]
    assert web.spec is not None and web.status is not None
    assert web.spec.node_name == "node-1" and web.status.phase == "Running"
    assert web.status.container_statuses is not None
    statuses = {s.name: s for s in web.status.container_statuses}
    app = statuses["app"]
    assert app.state is not None and app.container_id is not None
    assert app.state.running is not None and app.restart_count == 0
    assert app.container_id.startswith("containerd://")

    def names(selector: str) -> list[str]:
        return [name_of(p) for p in api.list_pod_for_all_namespaces(label_selector=selector).items]

    assert names("app=web") == ["web-1"]
    assert names("app!=web") == ["api-1", "db-1"]
    assert names("app in (db, api),!tier") == ["api-1", "db-1"]
    assert names("tier") == ["web-1"]
    page = api.list_pod_for_all_namespaces(limit=2)
    assert len(page.items) == 2 and list_meta(page)._continue
    rest = api.list_pod_for_all_namespaces(limit=2, _continue=list_meta(page)._continue)
    assert [name_of(p) for p in page.items + rest.items] == ["api-1", "db-1", "web-1"]


def test_watch_streams_events_and_bookmarks(double: KubeDouble, api: client.CoreV1Api) -> None:
    c = double.cluster
    c.bookmark_interval_s = 0.05
    c.add_pod("shop", "web-1")
    rv = version_of(api.list_namespaced_pod("shop"))
    c.restart("shop", "web-1", "app")
    c.add_pod("other", "x-1")  # another namespace: not in this watch
    c.delete_pod("shop", "web-1")
    seen: list[tuple[str, str] | tuple[str, str, int]] = []
    w = watch.Watch()
    for ev in w.stream(
        api.list_namespaced_pod,
        "shop",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=1,
    ):
        if ev["type"] == "BOOKMARK":
            seen.append(("BOOKMARK", ev["raw_object"]["metadata"]["resourceVersion"]))
            break
        pod: client.V1Pod = ev["object"]
        assert pod.status is not None and pod.status.container_statuses is not None
        restarts = pod.status.container_statuses[0].restart_count
        seen.append((ev["type"], name_of(pod), restarts))
    assert seen[:4] == [
        ("MODIFIED", "web-1", 0),
        ("MODIFIED", "web-1", 1),
        ("DELETED", "web-1", 1),
        ("BOOKMARK", str(c.rv)),
    ]


def test_watch_ends_after_timeout_seconds(double: KubeDouble, api: client.CoreV1Api) -> None:
    rv = version_of(api.list_namespaced_pod("shop"))
    started = time.monotonic()
    events = list(
        watch.Watch().stream(
            api.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=1
        )
    )
    assert events == [] and 0.9 < time.monotonic() - started < 3


@pytest.mark.parametrize("as_event", [True, False])
def test_compacted_version_is_410_gone(
    double: KubeDouble, api: client.CoreV1Api, as_event: bool
) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    old = version_of(api.list_namespaced_pod("shop"))
    c.touch("shop", "web-1")
    c.expire_watches(as_event=as_event)
    if as_event:
        resp = raw(
            api.list_namespaced_pod(
                "shop", watch=True, resource_version=old, _preload_content=False
            )
        )
        assert resp.status == 200
        assert b'"type": "ERROR"' in resp.data and b'"code": 410' in resp.data
    else:
        with pytest.raises(ApiException) as info:
            api.list_namespaced_pod(
                "shop", watch=True, resource_version=old, _preload_content=False
            )
        assert info.value.status == 410


class LogQuery(TypedDict, total=False):
    """The arguments of read_namespaced_pod_log these tests vary."""

    container: str
    tail_lines: int
    since_seconds: int
    limit_bytes: int
    timestamps: bool
    previous: bool


def test_pod_logs_follow_the_kubelets_rules(double: KubeDouble, api: client.CoreV1Api) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1", ["app", "proxy"])
    now = time.time_ns()
    c.log("shop", "web-1", "app", "old", now - 100 * NS)
    c.log("shop", "web-1", "app", "same second, earlier", (now // NS - 5) * NS + 1)
    c.log("shop", "web-1", "app", "recent", now - 5 * NS + 900)

    def log(**query: Unpack[LogQuery]) -> str:
        return str(api.read_namespaced_pod_log("web-1", "shop", **query))

    assert log(container="app") == "old\nsame second, earlier\nrecent\n"
    assert log(container="app", tail_lines=1) == "recent\n"
    assert log(container="app", since_seconds=50) == "same second, earlier\nrecent\n"
    assert log(container="app", limit_bytes=6) == "old\nsa"
    stamped = log(container="app", timestamps=True).splitlines()[2]
    assert stamped == f"{format_ts(now - 5 * NS + 900)} recent"
    with pytest.raises(ApiException) as info:
        log()  # two containers: one must be named
    assert info.value.status == 400 and info.value.body is not None
    assert "choose one of: [app proxy]" in info.value.body
    with pytest.raises(ApiException) as info:
        log(container="app", previous=True)
    assert info.value.status == 400
    c.emit("shop", "web-1", "app", 2, "first")
    c.restart("shop", "web-1", "app")
    c.emit("shop", "web-1", "app", 1, "second")
    assert log(container="app", previous=True).endswith("first seq=0\nfirst seq=1\n")
    assert log(container="app") == "second seq=2\n"
    c.crash("shop", "web-1", "app")  # CrashLoopBackOff: both show the dead instance
    assert log(container="app") == log(container="app", previous=True) == "second seq=2\n"
    with pytest.raises(ApiException) as info:
        log(container="nope")
    assert info.value.status == 400


def test_since_time_is_cut_to_the_second(double: KubeDouble, api: client.CoreV1Api) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    base = 1_795_000_000 * NS
    for i, offset in enumerate((100_000_000, 600_000_000, 1_200_000_000)):
        c.log("shop", "web-1", "app", f"l{i}", base + offset)
    # The client has no since_time argument: build the query by hand.
    api_client = api.api_client
    params = [("sinceTime", "2026-11-18T11:06:40.5Z"), ("timestamps", "true")]
    method, url, headers, body, post = api_client.param_serialize(
        "GET",
        "/api/v1/namespaces/shop/pods/web-1/log",
        query_params=params,
        auth_settings=["BearerToken"],
    )
    resp = api_client.call_api(method, url, header_params=headers)
    resp.read()
    # .5 s is dropped on the way to the kubelet: all of second 40 comes back.
    assert [ln.split(" ", 1)[1] for ln in resp.data.decode().splitlines()] == ["l0", "l1", "l2"]


def test_follow_streams_until_the_container_stops(
    double: KubeDouble, api: client.CoreV1Api
) -> None:
    c = double.cluster
    c.chunk_size = 3
    c.add_pod("shop", "web-1")
    c.emit("shop", "web-1", "app", 1, "a")
    resp = raw(api.read_namespaced_pod_log("web-1", "shop", follow=True, _preload_content=False))
    got = b""
    for chunk in resp.stream(64):
        got += chunk
        if got == b"a seq=0\n":
            c.emit("shop", "web-1", "app", 1, "ü")
        if got.endswith(b"seq=1\n"):
            c.finish("shop", "web-1", "app")
    assert got.decode() == "a seq=0\nü seq=1\n"


def test_bearer_token_and_rbac(double: KubeDouble, tmp_path: Path) -> None:
    c = double.cluster
    c.add_pod("shop", "web-1")
    bad = config.new_client_from_config(
        config_file=str(double.kubeconfig(tmp_path / "bad", token="nope")), persist_config=False
    )
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(bad).list_namespaced_pod("shop")
    assert info.value.status == 401
    c.forbidden_namespaces.add("shop")
    good = config.new_client_from_config(
        config_file=str(double.kubeconfig(tmp_path / "good")), persist_config=False
    )
    for call in (
        lambda: client.CoreV1Api(good).list_namespaced_pod("shop"),
        lambda: client.CoreV1Api(good).read_namespaced_pod_log("web-1", "shop"),
    ):
        with pytest.raises(ApiException) as info:
            call()
        assert info.value.status == 403 and info.value.body is not None
        assert 'in the namespace \\"shop\\"' in info.value.body
    bad.close()
    good.close()
