"""The double's users and what they may do, and the review endpoints that ask about them:
``authentication.k8s.io/v1`` TokenReview and ``authorization.k8s.io/v1``
SubjectAccessReview, as a collector checking its callers posts them.

`Users` is the users/permissions table (on `FakeCluster.users`): a token names a user;
a user holds rules (verb, resource with subresource, namespace or "*") and non-resource
paths. The cluster's own token (the collector's service account) may post reviews.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.kube_double.responder import Responder, status

if TYPE_CHECKING:
    from tests.kube_double.cluster import FakeCluster

__all__ = ["AuthEndpoints", "User", "Users"]


@dataclass
class User:
    """One user: their token, groups and permissions."""

    name: str
    token: str
    groups: tuple[str, ...] = ("system:authenticated",)
    # (verb, resource such as "pods/log", namespace or "*")
    rules: set[tuple[str, str, str]] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)  # non-resource URLs they may get


class Users:
    """The users/permissions table; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[str, User] = {}
        self.reviews: list[dict[str, Any]] = []  # every review posted, in order

    def add(
        self,
        name: str,
        token: str,
        logs_in: tuple[str, ...] = (),
        proxy_in: tuple[str, ...] = (),
        paths: tuple[str, ...] = (),
    ) -> User:
        """A user who may read logs (`get pods/log`) in `logs_in` and `get pods/proxy` in
        `proxy_in` ("*": every namespace)."""
        user = User(name, token, paths=set(paths))
        user.rules |= {("get", "pods/log", ns) for ns in logs_in}
        user.rules |= {("get", "pods/proxy", ns) for ns in proxy_in}
        with self._lock:
            self._by_token[token] = user
        return user

    def by_token(self, token: str) -> User | None:
        with self._lock:
            return self._by_token.get(token)

    def by_name(self, name: str) -> User | None:
        with self._lock:
            return next((u for u in self._by_token.values() if u.name == name), None)

    @staticmethod
    def allows(user: User, verb: str, resource: str, namespace: str) -> bool:
        return (verb, resource, namespace) in user.rules or (verb, resource, "*") in user.rules


class AuthEndpoints(Responder):
    """POST of TokenReview and SubjectAccessReview."""

    def _reviews(self, path: str) -> bool:
        """Answer a review posted to `path`; False if `path` is not a review endpoint."""
        cluster: FakeCluster = self.server.cluster
        if path not in (
            "/apis/authentication.k8s.io/v1/tokenreviews",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        ):
            return False
        length = int(self.headers.get("Content-Length") or 0)
        try:
            review = json.loads(self.rfile.read(length))
            spec = review["spec"]
        except (ValueError, KeyError, TypeError):
            self._json(400, status(400, "BadRequest", "the review is not a JSON object with spec"))
            return True
        with cluster.lock:
            cluster.users.reviews.append(review)
        if path.endswith("tokenreviews"):
            user = cluster.users.by_token(str(spec.get("token", "")))
            answer: dict[str, Any] = {"authenticated": user is not None}
            if user is not None:
                answer["user"] = {
                    "username": user.name,
                    "uid": user.name,
                    "groups": list(user.groups),
                }
        else:
            answer = {"allowed": self._allowed(spec)}
        self._json(201, {**review, "status": answer})
        return True

    def _allowed(self, spec: dict[str, Any]) -> bool:
        user = self.server.cluster.users.by_name(str(spec.get("user", "")))
        if user is None:
            return False
        res = spec.get("resourceAttributes")
        if isinstance(res, dict):
            resource = str(res.get("resource", ""))
            if res.get("subresource"):
                resource += "/" + str(res["subresource"])
            return Users.allows(user, str(res.get("verb")), resource, str(res.get("namespace", "")))
        non = spec.get("nonResourceAttributes") or {}
        return non.get("verb") == "get" and non.get("path") in user.paths
