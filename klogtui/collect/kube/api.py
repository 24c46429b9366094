"""A thin GET-only layer over the official client's ApiClient, returning raw responses.

We use the `kubernetes` package for what it does well (kubeconfig and in-cluster
loading, TLS, bearer tokens that refresh through exec plugins) and read the bodies
ourselves: pod lists and watch events as plain JSON (model deserialization is slow and
`Watch.stream` retries a 410 once and then raises), log streams as raw chunks.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTClientObject

from klogtui.collect.kube.auth import Credentials, PluginError

__all__ = [
    "PROXY_FAILED",
    "KubeApi",
    "KubeAuthError",
    "KubeConnError",
    "KubeHTTPError",
    "KubeTarget",
    "Response",
    "ThrottleRetry",
    "body_chunks",
    "transport_reason",
]

Response = urllib3.BaseHTTPResponse

# Starts the reason of a KubeConnError when the proxy, not the API server, failed.
PROXY_FAILED = "proxy: "

_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^')\]\"]+)")


@dataclass(frozen=True, slots=True)
class KubeTarget:
    """Which cluster we talk to, for messages and defaults.

    Attributes:
        host: the API server URL.
        context: the kubeconfig context name ("in-cluster" inside a pod).
        namespace: the context's default namespace.
        origin: where the settings came from (a kubeconfig path, or "in-cluster").
        proxy: the proxy requests go through (proxy-url, or $HTTPS_PROXY), if any.
    """

    host: str
    context: str
    namespace: str
    origin: str
    proxy: str | None = None


@dataclass(frozen=True, slots=True)
class ThrottleRetry:
    """How a request the API server turns away with 429 is retried, as client-go does.

    API Priority and Fairness answers 429 with a Retry-After header when a priority
    level's queues are full: the request is sent again after that many seconds.

    Attributes:
        retries: how many times one request is sent again before the 429 counts.
        max_wait_s: a longer Retry-After is cut to this.
        default_wait_s: the wait when the 429 has no Retry-After.
    """

    retries: int = 10
    max_wait_s: float = 30.0
    default_wait_s: float = 1.0


class KubeHTTPError(Exception):
    """The API server answered with a non-2xx status.

    Attributes:
        status: the HTTP status code.
        reason: the Status object's reason (e.g. "Forbidden", "Expired"), or HTTP's.
        message: the Status object's message, or the body's first line.
        retry_after: the Retry-After header in seconds, if any.
        attempts: how many times the request was sent (more than 1 after 429s).
    """

    def __init__(
        self, status: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.attempts = 1


class KubeAuthError(KubeHTTPError):
    """No credentials to send: the exec plugin failed (its message says why)."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "Unauthorized", message)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class KubeConnError(Exception):
    """The API server could not be reached or the connection failed."""


def transport_reason(exc: BaseException) -> str:
    """A short human reason for a transport failure ("Connection refused", ...)."""
    text = str(exc)
    m = _ERRNO_RE.search(text)
    if m:
        return m.group(1).strip()
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return "cannot resolve the host name"
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "connection timed out"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "no answer (read timed out)"
    return " ".join(text.split())[:200] or type(exc).__name__


def _status_error(
    status: int, http_reason: str, body: bytes, retry_after: float | None
) -> KubeHTTPError:
    reason, message = http_reason or "", ""
    try:
        obj = json.loads(body)
        if isinstance(obj, dict):
            reason = str(obj.get("reason") or reason)
            # A Status says `message`; klogtui's query API behind the pod proxy `error`.
            message = str(obj.get("message") or obj.get("error") or "")
    except ValueError:
        message = body.decode("utf-8", "replace").strip().splitlines()[0] if body.strip() else ""
    return KubeHTTPError(status, reason, " ".join(message.split()), retry_after)


class KubeApi:
    """GET requests against one API server, through the official client's auth and TLS.

    Args:
        client: an ApiClient built from a kubeconfig or in-cluster config.
        target: what the client points at (for messages).
        connect_timeout: seconds to wait for a TCP/TLS connection.
        throttle: how 429 answers are retried.
        stopping: set when the collector stops (ends a wait for Retry-After).
        reload: loads the credentials anew into the client's configuration; with it a
            401 is retried once with fresh credentials.
    """

    def __init__(
        self,
        client: ApiClient,
        target: KubeTarget,
        connect_timeout: float,
        throttle: ThrottleRetry | None = None,
        stopping: threading.Event | None = None,
        reload: Callable[[Configuration], None] | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self._connect_timeout = connect_timeout
        self._throttle = throttle or ThrottleRetry()
        self.stopping = stopping or threading.Event()
        self._reload = reload
        self._credentials = None if reload is None else Credentials(self._reload_credentials)

    def _reload_credentials(self) -> None:
        assert self._reload is not None
        cfg = self.client.configuration
        certs = (cfg.cert_file, cfg.key_file)
        self._reload(cfg)
        if (cfg.cert_file, cfg.key_file) != certs:
            # Client certificates live in the connection pool's TLS context: a new pool.
            self.client.rest_client = RESTClientObject(cfg)

    def open(
        self,
        path: str,
        query: list[tuple[str, str]],
        read_timeout: float | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Start a GET and return the response with its body unread (`headers`: more
        headers to send).

        A 429 is retried after its Retry-After (capped), the same request again: a
        paged list goes on from its continue token. A 401 is retried once with the
        credentials loaded again.

        Raises:
            KubeHTTPError: the server answered with a non-2xx status (body consumed).
            KubeAuthError: the exec plugin failed to give credentials.
            KubeConnError: no connection, TLS failure, or no answer in time.
        """
        t = self._throttle
        creds = self._credentials
        attempts = 0
        reloaded = False
        while True:
            attempts += 1
            seen = 0 if creds is None else creds.generation
            try:
                return self._send(path, query, read_timeout, headers)
            except KubeAuthError:
                raise
            except KubeHTTPError as e:
                e.attempts = attempts
                if e.status == 401 and creds is not None and not reloaded:
                    reloaded = True
                    try:
                        if creds.refresh(seen):
                            continue
                    except PluginError as pe:
                        raise KubeAuthError(str(pe)) from pe
                if e.status != 429 or attempts > t.retries:
                    raise
                wait = t.default_wait_s if e.retry_after is None else e.retry_after
                if self.stopping.wait(min(wait, t.max_wait_s)):
                    raise

    def _send(
        self,
        path: str,
        query: list[tuple[str, str]],
        read_timeout: float | None,
        extra_headers: dict[str, str] | None = None,
    ) -> Response:
        try:
            method, url, headers, body, post = self.client.param_serialize(
                "GET",
                path,
                query_params=query,
                header_params={"Accept": "application/json", **(extra_headers or {})},
                auth_settings=["BearerToken"],
            )
            rest = self.client.call_api(
                method,
                url,
                header_params=headers,
                body=body,
                post_params=post,
                _request_timeout=(self._connect_timeout, read_timeout),
            )
        except PluginError as e:  # the exec plugin, run again for an expired credential
            raise KubeAuthError(str(e)) from e
        except ApiException as e:  # the REST layer wraps TLS failures this way
            raise KubeConnError(" ".join(str(e.reason).split())[:200]) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            failed = e.reason if isinstance(e, urllib3.exceptions.MaxRetryError) else e
            if isinstance(failed, urllib3.exceptions.ProxyError):
                # Name the proxy: the API server behind it may be fine.
                cause = failed.original_error or failed
                raise KubeConnError(PROXY_FAILED + transport_reason(cause)) from e
            raise KubeConnError(transport_reason(e)) from e
        resp: Response = rest.response
        if not 200 <= resp.status <= 299:
            try:
                data = resp.read(1 << 16)
            except (urllib3.exceptions.HTTPError, OSError):
                data = b""
            finally:
                resp.release_conn()
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            raise _status_error(resp.status, resp.reason or "", data or b"", retry_after)
        return resp

    def get_json(
        self, path: str, query: list[tuple[str, str]], timeout: float | None
    ) -> dict[str, Any]:
        """GET a JSON object (a list, a Status...).

        Raises:
            KubeHTTPError, KubeConnError: as `open`; KubeConnError also for a body
            that is cut short or not a JSON object.
        """
        resp = self.open(path, query, timeout)
        try:
            data = resp.read()
        except (urllib3.exceptions.HTTPError, OSError) as e:
            resp.close()
            raise KubeConnError(transport_reason(e)) from e
        finally:
            resp.release_conn()
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise KubeConnError(f"the server sent a body that is not JSON ({e})") from e
        if not isinstance(obj, dict):
            raise KubeConnError("the server sent JSON that is not an object")
        return obj

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def body_chunks(resp: Response, size: int = 1 << 16) -> Iterator[bytes]:
    """A streamed body as it arrives: one HTTP chunk at a time, or what one read gets.

    The API server streams logs and watches with chunked encoding, so a chunk comes
    out as soon as the server flushed it; `read1` covers servers that do not chunk.
    """
    if resp.chunked:
        yield from resp.stream(size)
        return
    while True:
        data = resp.read1(size)
        if not data:
            return
        yield data
