"""One-line, actionable wording for what the API server or the network said."""

from __future__ import annotations

from klogtui.collect.kube.api import PROXY_FAILED, KubeAuthError, KubeHTTPError, KubeTarget

__all__ = ["RBAC_NEEDED", "describe_conn", "describe_http"]

# Listing namespaces is not needed: without it a misspelt -n is just not caught early.
RBAC_NEEDED = "klogtui needs RBAC permission to get, list and watch pods, and get pods/log"


def _where(namespace: str | None) -> str:
    return "in all namespaces" if namespace is None else f"in namespace {namespace!r}"


def describe_http(
    err: KubeHTTPError, action: str, namespace: str | None, target: KubeTarget
) -> str:
    """Say what failed and what to do about it.

    Args:
        err: the server's answer.
        action: what we tried, e.g. "list pods", "watch pods", "get pods/log of web-1".
        namespace: the namespace it was in (None: cluster-wide).
        target: the cluster, for naming the context.
    """
    if isinstance(err, KubeAuthError):
        return f"cannot get credentials for context {target.context!r}: {err.message}"
    if err.status == 401:
        return (
            f"the API server at {target.host} rejected the credentials of context "
            f"{target.context!r} (401 Unauthorized), also freshly loaded: log in again or "
            f"fix the user in {target.origin}"
        )
    if err.status == 429:
        return (
            f"the API server at {target.host} is overloaded: it turned away {action} "
            f"{_where(namespace)} {err.attempts} times (429 Too Many Requests, from its "
            "API Priority and Fairness); try again later"
        )
    if err.status == 403:
        detail = f": {err.message}" if err.message else ""
        return f"not allowed to {action} {_where(namespace)} (403 Forbidden{detail}); {RBAC_NEEDED}"
    detail = f": {err.message}" if err.message else ""
    return f"cannot {action} {_where(namespace)} ({err.status} {err.reason}{detail})"


def describe_conn(reason: str, target: KubeTarget) -> str:
    """The API server (or the proxy on the way) is unreachable: say which, from which context."""
    if reason.startswith(PROXY_FAILED) and target.proxy:
        return (
            f"cannot reach the proxy {target.proxy} on the way to the Kubernetes API server "
            f"at {target.host} (context {target.context!r}): {reason.removeprefix(PROXY_FAILED)}"
        )
    return (
        f"cannot reach the Kubernetes API server at {target.host} "
        f"(context {target.context!r} in {target.origin}): {reason}"
    )
