"""Kubelet log file names: /var/log/pods files and /var/log/containers links."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from klogtui.paths import (
    ContainerLink,
    PodLogPath,
    log_file_order_key,
    parse_container_link_name,
    parse_pod_log_path,
)

UID = "6f1f3c2a-9b1d-4c53-8e0a-2f7d1b9c4e11"
POD_DIR = f"/var/log/pods/shop_checkout-7d9f8b6c5-x2x4z_{UID}/server"
CID = "3f8a" * 16


def pod_log(restart: int = 0, stamp: str | None = None, compressed: bool = False) -> PodLogPath:
    return PodLogPath("shop", "checkout-7d9f8b6c5-x2x4z", UID, "server", restart, stamp, compressed)


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("0.log", pod_log()),
        ("3.log", pod_log(3)),
        ("12.log", pod_log(12)),
        ("0.log.20261124-100000", pod_log(0, "20261124-100000")),
        ("2.log.20261124-235959.gz", pod_log(2, "20261124-235959", True)),
    ],
)
def test_pod_log_files(name: str, want: PodLogPath) -> None:
    assert parse_pod_log_path(f"{POD_DIR}/{name}") == want
    assert parse_pod_log_path(Path(POD_DIR) / name) == want


@pytest.mark.parametrize(
    "name",
    [
        "0.log.20261124-100000.tmp",  # gzip in progress
        "0.log.20261124-100000.gz.tmp",
        "0.log.tmp",
        "0.log.gz",
        "0.log.2026112-100000",
        "0.log.20261124100000",
        "0.logx",
        "x.log",
        "-1.log",
        ".0.log",
        "0.txt",
        "0",
        "",
    ],
)
def test_other_files_in_a_container_dir_are_not_logs(name: str) -> None:
    assert parse_pod_log_path(f"{POD_DIR}/{name}") is None


def test_static_pod_uid_is_a_config_hash() -> None:
    got = parse_pod_log_path(
        "/var/log/pods/kube-system_etcd-node-1_5f2a9c0e8b7d6a5f4e3d2c1b0a9f8e7d/etcd/0.log"
    )
    assert got == PodLogPath(
        "kube-system", "etcd-node-1", "5f2a9c0e8b7d6a5f4e3d2c1b0a9f8e7d", "etcd", 0
    )


def test_pod_names_may_contain_dots() -> None:
    got = parse_pod_log_path(f"/var/log/pods/ns_web.v2-0_{UID}/app/1.log")
    assert got is not None and (got.pod, got.restart) == ("web.v2-0", 1)


def test_relative_and_other_roots_work() -> None:
    assert parse_pod_log_path(f"pods/shop_checkout-7d9f8b6c5-x2x4z_{UID}/server/0.log") == pod_log()
    assert (
        parse_pod_log_path(f"/tmp/demo/pods/shop_checkout-7d9f8b6c5-x2x4z_{UID}/server/0.log")
        == pod_log()
    )


@pytest.mark.parametrize(
    "path",
    [
        f"/var/log/shop_checkout_{UID}/server/0.log",  # not under pods/
        "/var/log/pods/shop_checkout/server/0.log",
        f"/var/log/pods/shop_checkout_x_{UID}/server/0.log",
        f"/var/log/pods/shop__{UID}/server/0.log",
        f"/var/log/pods/_checkout_{UID}/server/0.log",
        "/var/log/pods/shop_checkout_/server/0.log",
        f"/var/log/pods/shop_checkout_{UID}/.hidden/0.log",
        f"/var/log/pods/shop_checkout_{UID}/my_container/0.log",
        f"/var/log/pods/shop_check out_{UID}/server/0.log",
        f"/var/log/pods/shop_checkout_{UID}/0.log",
        f"/var/log/pods/shop_checkout_{UID}",
        "0.log",
        "",
    ],
)
def test_bad_pod_log_paths(path: str) -> None:
    assert parse_pod_log_path(path) is None


def test_dataclasses_are_frozen() -> None:
    p = pod_log()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.restart = 1  # type: ignore[misc]
    assert not p.rotated and pod_log(0, "20261124-100000").rotated


def test_log_files_order_oldest_first() -> None:
    names = [
        "1.log",
        "0.log.20261124-110000",
        "1.log.20261124-120000.gz",
        "0.log",
        "0.log.20261124-100000.gz",
        "0.log.20261124-090000.gz",
        "1.log.20261124-130000",
        "10.log",
        "2.log",
    ]
    parsed = [parse_pod_log_path(f"{POD_DIR}/{n}") for n in names]
    assert all(p is not None for p in parsed)
    ordered = sorted((p for p in parsed if p is not None), key=log_file_order_key)
    assert [(p.restart, p.rotated_stamp) for p in ordered] == [
        (0, "20261124-090000"),
        (0, "20261124-100000"),
        (0, "20261124-110000"),
        (0, None),
        (1, "20261124-120000"),
        (1, "20261124-130000"),
        (1, None),
        (2, None),
        (10, None),
    ]


def test_compressed_copy_orders_before_its_uncompressed_twin() -> None:
    twins = [pod_log(0, "20261124-100000"), pod_log(0, "20261124-100000", True)]
    random.Random(1).shuffle(twins)
    assert [p.compressed for p in sorted(twins, key=log_file_order_key)] == [True, False]


# --------------------------------------------------------------------------- /var/log/containers


def test_container_link_name() -> None:
    name = f"checkout-7d9f8b6c5-x2x4z_shop_server-{CID}.log"
    want = ContainerLink("checkout-7d9f8b6c5-x2x4z", "shop", "server", CID)
    assert parse_container_link_name(name) == want
    assert parse_container_link_name(f"/var/log/containers/{name}") == want


def test_container_names_with_dashes_split_at_the_last_one() -> None:
    got = parse_container_link_name(f"web-0_default_istio-proxy-{CID}.log")
    assert got == ContainerLink("web-0", "default", "istio-proxy", CID)


def test_name_cut_to_255_bytes_keeps_a_shorter_id() -> None:
    pod = "p" * 200
    full = f"{pod}_default_app-{CID}"
    cut = full[: 255 - len(".log")] + ".log"  # what kubelet does
    assert len(cut) == 255
    got = parse_container_link_name(cut)
    assert got is not None
    assert (got.pod, got.namespace, got.container) == (pod, "default", "app")
    assert CID.startswith(got.container_id) and 0 < len(got.container_id) < 64


@pytest.mark.parametrize(
    "name",
    [
        f"web-0_default_app-{CID}",  # no .log
        f"web-0_default_app-{CID}.log.1",
        f"web-0_default_app_{CID}.log",
        f"web-0_default-app-{CID}.log",
        "web-0_default_app-.log",  # the whole id cut away
        "web-0_default_app.log",
        "web-0_default_app-xyz.log",  # not hex
        f"web-0_default_app-{CID}0.log",  # longer than 64
        f"_default_app-{CID}.log",
        f"web-0__app-{CID}.log",
        f"web-0_default_-{CID}.log",
        "",
    ],
)
def test_bad_container_link_names(name: str) -> None:
    assert parse_container_link_name(name) is None
