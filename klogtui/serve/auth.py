"""Who is asking, and which namespaces' logs they may read, as kube-rbac-proxy decides it.

The API server's pod proxy does not pass a caller's Authorization header on, so the
caller's bearer token travels in our own header (TOKEN_HEADER). A TokenReview says whose
it is; a SubjectAccessReview per namespace says whether that user may `get pods/log`
there, exactly what `kubectl logs` needs. Both answers are cached for CACHE_S, so a burst
of requests costs the API server one review each, not one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CACHE_S",
    "TOKEN_HEADER",
    "AuthFailed",
    "Authorizer",
    "Caller",
    "Reviewer",
    "ReviewFailed",
]

TOKEN_HEADER = "X-Klogtui-Token"
CACHE_S = 30.0
_CACHE_MAX = 10_000  # entries; a flood of made-up tokens cannot grow memory without end

# POST one review object to the API server and return its answer (raises ReviewFailed).
Reviewer = Callable[[str, dict[str, Any]], dict[str, Any]]


class ReviewFailed(Exception):
    """The API server could not be asked (the request is answered 503, not denied)."""


class AuthFailed(Exception):
    """No token, or one the API server does not know: answered 401."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated user, as TokenReview names them."""

    username: str
    uid: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...]

    def spec(self) -> dict[str, Any]:
        """The user part of a SubjectAccessReview's spec."""
        return {
            "user": self.username,
            "uid": self.uid,
            "groups": list(self.groups),
            "extra": {k: list(v) for k, v in self.extra},
        }


class _Cache:
    def __init__(self) -> None:
        self._items: dict[object, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: object, value: object) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._items) >= _CACHE_MAX:
                self._items = {k: v for k, v in self._items.items() if v[0] >= now}
                if len(self._items) >= _CACHE_MAX:
                    self._items.clear()
            self._items[key] = (now + CACHE_S, value)


class Authorizer:
    """Tokens to callers, callers to the namespaces they may read logs in.

    Args:
        review: posts a review to the API server.
    """

    def __init__(self, review: Reviewer) -> None:
        self._review = review
        self._tokens = _Cache()
        self._access = _Cache()

    def caller(self, header: str | None) -> Caller:
        """The user the header's token belongs to.

        Raises:
            AuthFailed: no token, or the API server does not accept it.
            ReviewFailed: the API server could not be asked.
        """
        token = (header or "").strip().removeprefix("Bearer ").strip()
        if not token:
            raise AuthFailed(
                f"no credentials: send your Kubernetes token in the {TOKEN_HEADER} header"
            )
        cached = self._tokens.get(token)
        if isinstance(cached, Caller):
            return cached
        if cached is False:
            raise AuthFailed("the token was not accepted by the API server")
        answer = self._review(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            },
        )
        status = answer.get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            self._tokens.put(token, False)
            raise AuthFailed("the token was not accepted by the API server")
        caller = Caller(
            username=str(user["username"]),
            uid=str(user.get("uid", "")),
            groups=tuple(str(g) for g in user.get("groups") or ()),
            extra=tuple(
                sorted(
                    (str(k), tuple(str(x) for x in v)) for k, v in (user.get("extra") or {}).items()
                )
            ),
        )
        self._tokens.put(token, caller)
        return caller

    def may_read_logs(self, caller: Caller, namespace: str) -> bool:
        """Whether the caller may `get pods/log` in the namespace (`kubectl logs`)."""
        return self._allowed(
            caller,
            {"namespace": namespace, "verb": "get", "resource": "pods", "subresource": "log"},
            "resourceAttributes",
        )

    def may_get_path(self, caller: Caller, path: str) -> bool:
        """Whether the caller may `get` a non-resource URL (/metrics), as Prometheus'
        scrape role is granted it."""
        return self._allowed(caller, {"path": path, "verb": "get"}, "nonResourceAttributes")

    def readable(self, caller: Caller, namespaces: Iterable[str]) -> set[str]:
        """Those of the namespaces the caller may read logs in."""
        return {ns for ns in namespaces if self.may_read_logs(caller, ns)}

    def _allowed(self, caller: Caller, attributes: dict[str, str], kind: str) -> bool:
        key = (caller, kind, tuple(sorted(attributes.items())))
        cached = self._access.get(key)
        if isinstance(cached, bool):
            return cached
        answer = self._review(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {**caller.spec(), kind: attributes},
            },
        )
        allowed = bool((answer.get("status") or {}).get("allowed"))
        self._access.put(key, allowed)
        return allowed
