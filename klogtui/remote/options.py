"""The command-line options of remote proxy mode, without importing what it runs (so
`klogtui query --help` stays fast)."""

from __future__ import annotations

import argparse

__all__ = ["add_collectors_options"]


def add_collectors_options(p: argparse.ArgumentParser) -> None:
    """`--collectors` and where to find them, on `klogtui query`."""
    c = p.add_argument_group("a cluster's collectors (deploy/), read through the API server")
    c.add_argument(
        "--collectors",
        action="store_true",
        help="query every node's collector through the pod proxy instead of a local store",
    )
    # SUPPRESS: `klogtui --kubeconfig F query ...` keeps what the main parser read.
    c.add_argument(
        "--kubeconfig",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="kubeconfig file (default $KUBECONFIG or ~/.kube/config)",
    )
    c.add_argument("--context", metavar="C", default=argparse.SUPPRESS, help="kubeconfig context")
    c.add_argument(
        "--collectors-namespace",
        metavar="NS",
        default="klogtui",
        help="where the collector pods run (default klogtui)",
    )
