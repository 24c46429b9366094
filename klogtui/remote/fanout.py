"""Requests to every collector at once through the API server's pod proxy, with the
caller's own token, each node's failure kept as a named missing part of the result.

The pod proxy does not pass `Authorization` on, so the caller's bearer token also goes
in the query API's own header (klogtui.serve.auth checks it there). A caller without a
token (a client certificate) cannot be checked by the collectors: they are told how to
get one instead of being refused by every node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import urllib3

from klogtui.collect.kube.api import (
    KubeApi,
    KubeConnError,
    KubeHTTPError,
    body_chunks,
    transport_reason,
)
from klogtui.errors import KlogError, QueryError
from klogtui.remote.collectors import Collector

__all__ = ["TOKEN_HEADER", "FanOut", "NodeDown"]

TOKEN_HEADER = "X-Klogtui-Token"  # klogtui.serve.auth's; not imported: serve is beside us
MAX_PARALLEL = 16  # requests in flight at once, whatever the number of nodes
READ_TIMEOUT_S = 30.0  # a node that says nothing for this long is missing
# A node whose few read slots are all taken (503 with Retry-After: the explorer's panes
# and screens ask at once) is asked again a few times before it counts as missing.
BUSY_RETRIES = 4
BUSY_WAIT_MAX_S = 1.0

T = TypeVar("T")


class NodeDown(Exception):
    """One collector did not answer (refused, 503, timed out, cut off mid-answer)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def _proxy_forbidden(e: KubeHTTPError, collector: Collector) -> KlogError:
    return KlogError(
        f"you may not read the collectors: the API server refused the pod proxy ({e.message}). "
        f"Reading them needs `get` on pods/proxy (and `list` on pods) in namespace "
        f"{collector.namespace!r}: the Role klogtui-reader in deploy/ grants it"
    )


class FanOut:
    """The query API of every collector, through one API client.

    Args:
        api: the caller's connection (kubeconfig or in-cluster, exec plugins included).
    """

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self._pool = ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix="klogtui-fanout")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def token_headers(self) -> dict[str, str]:
        """The caller's bearer token in the query API's header.

        Raises:
            KlogError: the kubeconfig's user has no token (a client certificate).
        """
        cfg = self.api.client.configuration
        value = cfg.get_api_key_with_prefix("BearerToken", alias="authorization") or ""
        token = value.removeprefix("Bearer ").strip()
        if not token:
            how = "a client certificate" if cfg.cert_file else "no token"
            raise KlogError(
                f"the collectors need your Kubernetes token, and context "
                f"{self.api.target.context!r} logs in with {how}: the pod proxy cannot pass "
                "a client certificate on. Use a token instead, e.g. from `kubectl create "
                "token SERVICEACCOUNT` for a service account bound to what you may read, "
                "set as the user's `token` in a kubeconfig of its own"
            )
        return {TOKEN_HEADER: token}

    def get(
        self, collector: Collector, path: str, params: list[tuple[str, str]]
    ) -> tuple[bytes, dict[str, str]]:
        """One answer read whole, with its headers.

        Raises:
            NodeDown: the node did not answer, or its answer was cut off.
            QueryError: the node says the query is bad (400).
            KlogError: the caller may not use the proxy (403), or no token was accepted.
        """
        resp = self._open(collector, path, params, READ_TIMEOUT_S)
        try:
            body = resp.read()
        except (urllib3.exceptions.HTTPError, OSError) as e:
            resp.close()
            raise NodeDown(collector.name, f"its answer was cut off ({transport_reason(e)})") from e
        finally:
            resp.release_conn()
        return body, {k.lower(): v for k, v in resp.headers.items()}

    def get_json(self, collector: Collector, path: str, params: list[tuple[str, str]]) -> Any:
        body, _ = self.get(collector, path, params)
        try:
            return json.loads(body)
        except ValueError as e:
            raise NodeDown(collector.name, f"it sent a body that is not JSON ({e})") from e

    def stream(
        self, collector: Collector, path: str, params: list[tuple[str, str]]
    ) -> Iterator[bytes]:
        """Open a streamed answer (for /tail) now; iterate for its lines as they come.

        Raises:
            NodeDown: as `get`; iterating raises it too when the stream breaks or ends.
        """
        resp = self._open(collector, path, params, None)

        def lines() -> Iterator[bytes]:
            pending = b""
            try:
                for chunk in body_chunks(resp):
                    pending += chunk
                    *whole, pending = pending.split(b"\n")
                    yield from (ln for ln in whole if ln)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise NodeDown(collector.name, f"its stream broke ({transport_reason(e)})") from e
            finally:
                resp.release_conn()
            raise NodeDown(collector.name, "its stream ended")

        return lines()

    def _open(
        self,
        collector: Collector,
        path: str,
        params: list[tuple[str, str]],
        read_timeout: float | None,
    ) -> urllib3.BaseHTTPResponse:
        for attempt in range(BUSY_RETRIES):
            try:
                return self._open_once(collector, path, params, read_timeout)
            except NodeDown as e:
                busy = e.__cause__
                if not (isinstance(busy, KubeHTTPError) and busy.status == 503):
                    raise
                if busy.retry_after is None or attempt == BUSY_RETRIES - 1:
                    raise
                time.sleep(min(busy.retry_after, BUSY_WAIT_MAX_S) * (attempt + 1) / 2)
        raise AssertionError("unreachable")

    def _open_once(
        self,
        collector: Collector,
        path: str,
        params: list[tuple[str, str]],
        read_timeout: float | None,
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self.api.open(
                collector.proxy_path(path), params, read_timeout, self.token_headers()
            )
        except KubeConnError as e:
            raise NodeDown(collector.name, str(e)) from e
        except KubeHTTPError as e:
            if e.status == 400:
                # The query was parsed here first: what is left is the node's own check
                # (a regex that ran too long), whose column KubeApi does not keep.
                raise QueryError(e.message, 0, dict(params).get("q", "")) from e
            if e.status == 403 and "pods/proxy" in e.message:
                raise _proxy_forbidden(e, collector) from e
            if e.status == 403:
                raise KlogError(f"the collector on {collector.name} refused: {e.message}") from e
            if e.status == 401:
                raise KlogError(
                    f"the collectors did not accept your token ({e.message or e.reason}): "
                    "log in again (e.g. `kubectl get pods`) and retry"
                ) from e
            raise NodeDown(collector.name, f"{e.status} {e.reason}: {e.message}".strip()) from e

    def each(
        self, collectors: list[Collector], call: Callable[[Collector], T]
    ) -> tuple[list[tuple[Collector, T]], list[tuple[Collector, NodeDown]]]:
        """call(collector) for every collector at once: the answers, and the nodes that
        were down (each with why), both in the collectors' order.

        Raises:
            KlogError, QueryError: what a node said that fails the whole request.
        """
        futures = [(c, self._pool.submit(call, c)) for c in collectors]
        out: list[tuple[Collector, T]] = []
        down: list[tuple[Collector, NodeDown]] = []
        failure: BaseException | None = None
        for c, f in futures:
            try:
                out.append((c, f.result()))
            except NodeDown as e:
                down.append((c, e))
            except (KlogError, QueryError) as e:
                failure = failure or e
        if failure is not None:
            raise failure
        return out, down
