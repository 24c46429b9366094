"""The command-line options of remote proxy mode (`klogtui --collectors`, `klogtui query
--collectors`), without importing what it runs (so
`klogtui query --help` stays fast)."""

from __future__ import annotations

import argparse

__all__ = ["add_collectors_options"]


def add_collectors_options(p: argparse.ArgumentParser, kubeconfig: bool = True) -> None:
    """`--collectors` and where to find them (and, with `kubeconfig`, the kubeconfig
    options, which the explorer's parser has already)."""
    c = p.add_argument_group("a cluster's collectors (deploy/), read through the API server")
    c.add_argument(
        "--collectors",
        action="store_true",
        help="read every node's collector through the pod proxy instead of a local store",
    )
    if kubeconfig:
        # SUPPRESS: `klogtui --kubeconfig F query ...` keeps what the main parser read.
        c.add_argument(
            "--kubeconfig",
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="kubeconfig file (default $KUBECONFIG or ~/.kube/config)",
        )
        c.add_argument(
            "--context", metavar="C", default=argparse.SUPPRESS, help="kubeconfig context"
        )
    c.add_argument(
        "--collectors-namespace",
        metavar="NS",
        default="klogtui",
        help="where the collector pods run (default klogtui)",
    )
