"""Whether the API checks its callers, and its line to the API server when it does.

With API access (a kubeconfig, or the pod's service account) every request is checked
(klogtui.serve.auth) whatever the address; without it the API may only listen on
loopback, where it runs open: anyone on the machine can read it, as they could read the
store file's directory if it were theirs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from klogtui.collect.kube.api import KubeApi, KubeConnError, transport_reason
from klogtui.collect.kube.connect import connect
from klogtui.errors import KlogError
from klogtui.serve.auth import Authorizer, Reviewer, ReviewFailed
from klogtui.serve.limits import Limits
from klogtui.serve.server import Api, is_loopback, parse_listen

__all__ = ["query_api"]

_TIMEOUT_S = 5.0


def _poster(api: KubeApi) -> Reviewer:
    """POST a review through the collector's own API client (its TLS and credentials)."""
    client = api.client

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            method, url, headers, data, post_params = client.param_serialize(
                "POST",
                path,
                body=body,
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                auth_settings=["BearerToken"],
            )
            rest = client.call_api(
                method,
                url,
                header_params=headers,
                body=data,
                post_params=post_params,
                _request_timeout=(_TIMEOUT_S, _TIMEOUT_S),
            )
            resp = rest.response
            try:
                raw = resp.read()
            finally:
                resp.release_conn()
        except Exception as e:  # the client wraps transport failures in many types
            raise ReviewFailed(transport_reason(e)) from e
        if not 200 <= resp.status <= 299:
            raise ReviewFailed(
                f"the API server answered {resp.status} to {path.rsplit('/', 1)[-1]}: does "
                "the collector's role allow creating tokenreviews and subjectaccessreviews?"
            )
        try:
            answer = json.loads(raw)
        except ValueError as e:
            raise ReviewFailed(f"the API server sent a body that is not JSON ({e})") from e
        if not isinstance(answer, dict):
            raise ReviewFailed("the API server sent JSON that is not an object")
        return answer

    return post


def query_api(
    listen: str,
    store: Path,
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    request_s: float | None = None,
) -> Api:
    """The API `klogtui collect --listen` asks for.

    Args:
        kubeconfig: given (even empty: the default file) or None for no API access.
        request_s: the time limit on one request's reads (--query-time-limit; None:
            Limits' default).

    Raises:
        KlogError: a bad address, or one beyond loopback without a way to check callers.
    """
    try:
        opts = parse_listen(listen)
    except ValueError as e:
        raise KlogError(str(e)) from None
    if request_s is not None:
        opts = replace(opts, limits=Limits(request_s=request_s))
    if kubeconfig is None and not in_cluster:
        if not is_loopback(opts.host):
            raise KlogError(
                f"--listen {listen}: beyond loopback every caller must be checked, which "
                "needs API access: add --in-cluster or --kubeconfig, or listen on 127.0.0.1"
            )
        return Api(opts, store, None)
    try:
        api = connect(
            kubeconfig or None, context, in_cluster, pool_size=8, connect_timeout=_TIMEOUT_S
        )
    except KubeConnError as e:
        raise KlogError(f"--listen: cannot reach the API server to check callers: {e}") from e
    return Api(opts, store, Authorizer(_poster(api)))
