"""deploy/ as the cluster gets it: `kubectl kustomize deploy/` rendered by the real
kubectl, every object loaded through the official client's models (a misspelt or
misplaced field does not survive the round trip), and the invariants that matter: the
host's logs mounted read-only, the probes on the API port's /healthz and /readyz, the
collector's RBAC exactly what it uses, the reader's only pods/proxy in its namespace,
and a command line `klogtui collect` takes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # the kubernetes client's dependency
from kubernetes import client

from klogtui.cli import build_parser

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
DEPLOY = Path(__file__).parents[2] / "deploy"


def _drop_empty(value: Any) -> Any:
    """The object without the None and empty values the client's models fill in."""
    if isinstance(value, dict):
        kept = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    assert KUBECTL is not None
    rendered = subprocess.run(
        [KUBECTL, "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_every_object_survives_the_clients_models(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    api = client.ApiClient()
    assert sorted(objects) == [
        ("ClusterRole", "klogtui-collector"),
        ("ClusterRoleBinding", "klogtui-collector"),
        ("DaemonSet", "klogtui-collector"),
        ("Namespace", "klogtui"),
        ("NetworkPolicy", "klogtui-collector"),
        ("Role", "klogtui-reader"),
        ("RoleBinding", "klogtui-readers"),
        ("ServiceAccount", "klogtui-collector"),
    ]
    for (kind, name), obj in objects.items():
        model = api._ApiClient__deserialize(obj, f"V1{kind}")  # type: ignore[attr-defined]
        back = api.sanitize_for_serialization(model)
        # A field the model does not know is dropped: the round trip shows it.
        assert _drop_empty(back) == _drop_empty(obj), f"{kind}/{name}"
        assert obj["metadata"].get("namespace") in (None, "klogtui")


def _pod(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objects[("DaemonSet", "klogtui-collector")]["spec"]["template"]["spec"]
    return spec


def test_the_collector_reads_the_hosts_logs_read_only_and_writes_only_its_store(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    pod = _pod(objects)
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host == {
        "pods": "/var/log/pods",
        "containers": "/var/log/containers",
        "store": "/var/lib/klogtui",
    }
    (collector,) = pod["containers"]
    mounts = {m["name"]: m for m in collector["volumeMounts"]}
    for name in ("pods", "containers"):
        assert mounts[name]["readOnly"] is True and mounts[name]["mountPath"] == host[name]
    assert not mounts["store"].get("readOnly")
    security = collector["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"] and "add" not in security["capabilities"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    # Only the init step that hands the store's directory over runs as root.
    (init,) = pod["initContainers"]
    assert [m["name"] for m in init["volumeMounts"]] == ["store"]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert pod["tolerations"] == [{"operator": "Exists"}]  # every node
    for c in (collector, init):
        assert set(c["resources"]) == {"requests", "limits"}


def test_the_collector_command_line_is_one_klogtui_collect_takes(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    (collector,) = _pod(objects)["containers"]
    env = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in collector["env"]
        if "valueFrom" in e
    }
    assert env == {"NODE_NAME": "spec.nodeName", "POD_IP": "status.podIP"}
    args = [
        a.replace("$(NODE_NAME)", "node-1").replace("$(POD_IP)", "10.1.2.3")
        for a in collector["args"]
    ]
    assert "--listen=10.1.2.3:7473" in args  # the query API on the pod's IP
    # --listen is the query API's (another part of this work); the rest must parse here.
    parsed = build_parser().parse_args([a for a in args if not a.startswith("--listen")])
    assert (parsed.command, parsed.log_dir, parsed.node, parsed.in_cluster) == (
        "collect",
        Path("/var/log"),
        "node-1",
        True,
    )
    assert (parsed.retain, parsed.max_size) == ("7d", "2GB")
    port = next(p for p in collector["ports"] if p["name"] == "api")
    assert port["containerPort"] == 7473
    probes = {
        k: (v["httpGet"]["path"], v["httpGet"]["port"])
        for k, v in collector.items()
        if k.endswith("Probe")
    }
    assert probes == {
        "startupProbe": ("/healthz", "api"),
        "livenessProbe": ("/healthz", "api"),
        "readinessProbe": ("/readyz", "api"),
    }


def _rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_rbac_grants_exactly_what_each_side_uses(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert _rules(objects[("ClusterRole", "klogtui-collector")]) == {
        ("", "pods", "get"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("apps", "replicasets", "get"),
        ("batch", "jobs", "get"),
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    }
    binding = objects[("ClusterRoleBinding", "klogtui-collector")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "klogtui-collector", "namespace": "klogtui"}
    ]
    # The reader: a Role (this namespace only), no pods/log, no secrets, no exec.
    reader = objects[("Role", "klogtui-reader")]
    assert reader["metadata"]["namespace"] == "klogtui"
    assert _rules(reader) == {("", "pods", "get"), ("", "pods", "list"), ("", "pods/proxy", "get")}
    assert objects[("RoleBinding", "klogtui-readers")]["roleRef"]["name"] == "klogtui-reader"
    assert _pod(objects)["serviceAccountName"] == "klogtui-collector"


def test_only_the_api_port_is_open_and_only_to_the_listed_addresses(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    policy = objects[("NetworkPolicy", "klogtui-collector")]["spec"]
    labels = objects[("DaemonSet", "klogtui-collector")]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 7473}]
    assert all(set(peer) == {"ipBlock"} for peer in ingress["from"])  # no pod, no namespace
