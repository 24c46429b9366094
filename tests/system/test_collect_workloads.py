"""`klogtui collect` with workloads, as a user runs it: a real process reading a node's
files with `--kubeconfig` beside `--log-dir` (the API double over HTTP) stores each
source's labels and workload; `--demo` stores its cast's owners."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from klogtui.errors import StoreError
from klogtui.store import Store
from tests.helpers_files import Container, lines, sources
from tests.kube_double import KubeDouble
from tests.kube_double.workloads import add_owned_pod
from tests.waiting import wait_for


def test_collect_with_a_kubeconfig_beside_the_files_stores_labels_and_workloads(
    double: KubeDouble, tmp_path: Path
) -> None:
    c = double.cluster
    chain = [("CronJob", "report"), ("Job", "report-2890")]
    uid = add_owned_pod(c, "batch", "report-2890-q", chain, labels={"team": "data"}, node="n7")
    job = Container(tmp_path / "logs", "batch", "report-2890-q", uid)
    job.append(lines(range(20)))
    db = tmp_path / "store.db"
    kubeconfig = double.kubeconfig(tmp_path / "kubeconfig")
    argv = ["--log-dir", str(job.log_dir), "--kubeconfig", str(kubeconfig), "--node", "n7"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "klogtui", "collect", *argv, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:

        def stored() -> bool:
            try:
                got = sources(Store.open(db, readonly=True)).get(job.key())
            except StoreError:  # not made yet
                return False
            return got is not None and got.workload != "" and got.lines == 20

        wait_for(stored, 30, "the job's lines and workload stored")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    src = sources(Store.open(db, readonly=True))[job.key()]
    assert (src.workload_kind, src.workload, src.labels, src.node) == (
        "CronJob",
        "report",
        {"team": "data"},
        "n7",
    )
    # It asked for the pods of node n7 only; it never asked for their logs.
    assert c.requests_to("/api/v1/pods")[0]["fieldSelector"] == ["spec.nodeName=n7"]
    assert not c.requests_to("/log")
    assert err == ""


def test_demo_sources_have_owners(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", "collect", "--demo", "--once", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    reader = Store.open(db, readonly=True).reader()
    try:
        owners = {(s.namespace, s.workload_kind, s.workload) for s in reader.sources()}
        postgres = {s.pod for s in reader.sources() if s.workload == "postgres"}
        by_kind = {
            s.pod
            for ln in reader.newest("kind=statefulset", 10_000)
            if (s := reader.source(ln.source_id))
        }
    finally:
        reader.close()
    assert ("shop", "Deployment", "frontend") in owners
    assert ("data", "CronJob", "etl-job") in owners
    assert ("kube-system", "DaemonSet", "kube-proxy") in owners
    assert all(kind and name for _, kind, name in owners)
    assert postgres == {"postgres-0"}
    assert by_kind == {"postgres-0", "redis-0", "prometheus-0", "storefront-dev-0"}
