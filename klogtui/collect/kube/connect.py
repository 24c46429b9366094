"""From the user's options to a checked connection, or a one-line CollectorError.

Loading reads only local files (kubeconfig, or the service account inside a pod);
`check_access` then asks the server the questions whose failure should stop klogtui
before its screen opens: can we reach it, do our credentials work, may we list pods
where the user asked.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import KubeConfigMerger

from klogtui.collect.kube.api import (
    KubeApi,
    KubeConnError,
    KubeHTTPError,
    KubeTarget,
    ThrottleRetry,
)
from klogtui.collect.kube.auth import PluginError, QuietKubeConfigLoader
from klogtui.collect.kube.errors import describe_conn, describe_http
from klogtui.errors import CollectorError

__all__ = ["MIN_CLIENT_MAJOR", "check_access", "connect", "resolve_context"]

# The request layer uses ApiClient.param_serialize, new in kubernetes 37 (pyproject pins it).
MIN_CLIENT_MAJOR = 37

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def _kubeconfig_paths(explicit: str | None) -> list[str]:
    if explicit:
        return [os.path.expanduser(explicit)]
    env = os.environ.get("KUBECONFIG", "")
    paths = [os.path.expanduser(p) for p in env.split(os.pathsep) if p]
    return paths or [os.path.expanduser("~/.kube/config")]


@dataclass(frozen=True, slots=True)
class _Chosen:
    """The kubeconfig files read and the context chosen in them."""

    joined: str  # the existing files, joined with os.pathsep
    context: str
    namespace: str


def _choose_context(explicit: str | None, context: str | None) -> _Chosen:
    paths = _kubeconfig_paths(explicit)
    existing = [p for p in paths if os.path.isfile(p)]
    origin = os.pathsep.join(paths)
    if not existing:
        raise CollectorError(f"kubeconfig not found: {origin}")
    joined = os.pathsep.join(existing)
    try:
        raw = KubeConfigMerger(joined).config.value  # type: ignore[no-untyped-call]
    except (TypeError, AttributeError) as e:
        raise CollectorError(
            f"invalid kubeconfig {joined}: not a YAML mapping of clusters, contexts and users"
        ) from e
    except Exception as e:  # noqa: BLE001 - YAML, type and config errors all mean "invalid"
        raise CollectorError(f"invalid kubeconfig {joined}: {_one_line(e)}") from e
    contexts = raw.get("contexts") if isinstance(raw, dict) else None
    if not isinstance(contexts, list):
        raise CollectorError(f"invalid kubeconfig {joined}: no contexts list")
    # The merger wraps list items in ConfigNode objects; their .value is the dict.
    items = [getattr(c, "value", c) for c in contexts]
    entries = {str(c.get("name")): c for c in items if isinstance(c, dict)}
    if context is not None and context not in entries:
        known = ", ".join(entries) or "none"
        raise CollectorError(f"context {context!r} not found in {joined} (contexts: {known})")
    chosen = context or raw.get("current-context")
    if not chosen:
        raise CollectorError(f"kubeconfig {joined} has no current-context; pass --context")
    entry = entries.get(str(chosen))
    if entry is None:
        raise CollectorError(
            f"invalid kubeconfig {joined}: current-context {chosen!r} is not among its contexts"
        )
    namespace = str((entry.get("context") or {}).get("namespace") or "default")
    return _Chosen(joined, str(chosen), namespace)


def resolve_context(kubeconfig: str | None, context: str | None, in_cluster: bool) -> str:
    """The context remote mode will use: `context`, else the kubeconfig's current one.

    Reads only local files, so the store can be named after the cluster before it is
    created; "in-cluster" inside a pod.

    Raises:
        CollectorError: missing or invalid kubeconfig, unknown context.
    """
    if in_cluster:
        return "in-cluster"
    return _choose_context(kubeconfig, context).context


def _kubeconfig_loader(
    joined: str,
    context: str,
    cfg: Configuration,
    may_interact: bool,
    notes: Callable[[str], object],
) -> Callable[[Configuration], None]:
    """Load the context's settings into `cfg` now; returns what loads them again.

    Reloading reads the files again: a login tool may have rewritten the kubeconfig
    (OIDC tokens), and the tokenFile or the exec plugin gives new credentials.
    """

    def load(into: Configuration) -> None:
        loader = QuietKubeConfigLoader(
            config_dict=KubeConfigMerger(joined).config,  # type: ignore[no-untyped-call]
            config_base_path=None,
            active_context=context,
            may_interact=may_interact,
            notes=notes,
        )
        loader.load_and_set(into)  # type: ignore[no-untyped-call]

    load(cfg)
    return load


def _load_kubeconfig(
    explicit: str | None,
    context: str | None,
    cfg: Configuration,
    may_interact: bool,
    notes: Callable[[str], object],
) -> tuple[KubeTarget, Callable[[Configuration], None]]:
    chosen = _choose_context(explicit, context)
    joined = chosen.joined
    try:
        reload = _kubeconfig_loader(joined, chosen.context, cfg, may_interact, notes)
    except PluginError as e:
        raise CollectorError(f"cannot get credentials for context {chosen.context!r}: {e}") from e
    except Exception as e:  # noqa: BLE001 - missing cluster/user, bad certificate data, ...
        raise CollectorError(
            f"invalid kubeconfig {joined} (context {chosen.context!r}): {_one_line(e)}"
        ) from e
    target = KubeTarget(
        host=str(cfg.host),
        context=chosen.context,
        namespace=chosen.namespace,
        origin=joined,
        proxy=cfg.proxy or None,
    )
    return target, reload


def _load_in_cluster_into(cfg: Configuration) -> None:
    # The pod's service-account token is rotated on disk; this reads it again.
    kube_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]


def _load_in_cluster(cfg: Configuration) -> KubeTarget:
    try:
        _load_in_cluster_into(cfg)
    except ConfigException as e:
        raise CollectorError(
            f"in-cluster config unavailable (not running in a Kubernetes pod?): {_one_line(e)}"
        ) from e
    try:
        namespace = _SA_NAMESPACE.read_text().strip() or "default"
    except OSError:
        namespace = "default"
    return KubeTarget(
        host=str(cfg.host),
        context="in-cluster",
        namespace=namespace,
        origin="the pod's service account",
    )


def connect(
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    pool_size: int,
    connect_timeout: float,
    throttle: ThrottleRetry | None = None,
    stopping: threading.Event | None = None,
    may_interact: bool = False,
    notes: Callable[[str, str], object] = lambda where, message: None,
) -> KubeApi:
    """Load the configuration and build the API layer (no network traffic yet).

    Args:
        kubeconfig: a kubeconfig path; None for $KUBECONFIG or ~/.kube/config.
        context: the context to use; None for the current one.
        in_cluster: use the pod's service account instead of a kubeconfig.
        pool_size: HTTP connections kept per host (one per concurrent stream).
        connect_timeout: seconds to wait for a connection.
        throttle: how requests turned away with 429 are retried.
        stopping: set when the collector stops (ends waits for Retry-After).
        may_interact: exec credential plugins may use the terminal (not in the TUI).
        notes: told (where, message) what exec plugins wrote to stderr, and that TLS
            verification is off.

    Raises:
        CollectorError: missing or invalid kubeconfig, unknown context, not in a pod.
    """
    _require_client()
    cfg = Configuration()
    reload: Callable[[Configuration], None]
    if in_cluster:
        target, reload = _load_in_cluster(cfg), _load_in_cluster_into
    else:
        target, reload = _load_kubeconfig(
            kubeconfig, context, cfg, may_interact, lambda said: notes("credentials", said)
        )
    if not cfg.verify_ssl:
        # urllib3 warns on every request (5 in 7 s were seen, over the screen): say it once.
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        notes(
            "tls",
            f"TLS certificate verification is off for context {target.context!r} "
            f"(insecure-skip-tls-verify in {target.origin}): the API server at {target.host} "
            "is not checked to be the real one",
        )
    # Our own loops retry with backoff; urllib3's silent retries would only hide failures.
    cfg.retries = False
    cfg.connection_pool_maxsize = pool_size
    client = ApiClient(configuration=cfg)
    return KubeApi(client, target, connect_timeout, throttle, stopping, reload)


def _require_client() -> None:
    """An older `kubernetes` package fails on the first request: say so before that."""
    if not hasattr(ApiClient, "param_serialize"):
        installed = getattr(kubernetes, "__version__", "unknown")
        raise CollectorError(
            f"remote mode needs the kubernetes package {MIN_CLIENT_MAJOR} or newer "
            f"(installed: {installed}); run: pip install 'kubernetes>={MIN_CLIENT_MAJOR}'"
        )


def check_access(
    api: KubeApi, namespaces: list[str] | None, selector: str | None, timeout: float
) -> None:
    """Ask the server what must work before we start; raise a one-line error if not.

    Args:
        api: the API layer.
        namespaces: the namespaces to follow; None for all of them.
        selector: the pod label selector (checked by the server too).
        timeout: seconds to wait for each answer.

    Raises:
        CollectorError: unreachable server, rejected credentials, missing RBAC
            permission, an invalid selector, or a namespace that does not exist.
    """
    target = api.target
    query = [("limit", "1")] + ([("labelSelector", selector)] if selector else [])
    scopes: list[str | None] = list(namespaces) if namespaces is not None else [None]
    for ns in scopes:
        path = "/api/v1/pods" if ns is None else f"/api/v1/namespaces/{ns}/pods"
        try:
            listing = api.get_json(path, query, timeout)
        except KubeConnError as e:
            raise CollectorError(describe_conn(str(e), target)) from e
        except KubeHTTPError as e:
            raise CollectorError(describe_http(e, "list pods", ns, target)) from e
        _check_log_access(api, listing, timeout)
    if namespaces:
        _check_namespaces_exist(api, namespaces, timeout)


def _check_log_access(api: KubeApi, listing: dict[str, Any], timeout: float) -> None:
    """Read nothing of one listed pod's log, to learn now whether pods/log is allowed.

    Without it every container would fail on its own, one 403 after another; a GET
    keeps remote mode read-only (no SelfSubjectAccessReview to create). Anything but
    a 403 (no pods, a container not started yet) leaves it to the streams.
    """
    items = [p for p in listing.get("items") or () if isinstance(p, dict)]
    if not items:
        return
    meta = items[0].get("metadata") or {}
    containers = (items[0].get("spec") or {}).get("containers") or [{}]
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    query = [("container", str(containers[0].get("name") or "")), ("tailLines", "0")]
    try:
        resp = api.open(f"/api/v1/namespaces/{ns}/pods/{name}/log", query, timeout)
    except KubeHTTPError as e:
        if e.status == 403:
            raise CollectorError(describe_http(e, "get pods/log", ns, api.target)) from e
        return
    except KubeConnError:
        return  # the streams will say it, with their retries
    try:
        resp.read()  # empty: tailLines=0
    except (urllib3.exceptions.HTTPError, OSError):
        resp.close()
    finally:
        resp.release_conn()


def _check_namespaces_exist(api: KubeApi, namespaces: list[str], timeout: float) -> None:
    try:
        listing = api.get_json("/api/v1/namespaces", [], timeout)
    except KubeHTTPError as e:
        if e.status == 403:
            # Users confined to a namespace often may not list namespaces; we can
            # still follow theirs, we just cannot catch a misspelt name here.
            return
        raise CollectorError(describe_http(e, "list namespaces", None, api.target)) from e
    except KubeConnError as e:
        raise CollectorError(describe_conn(str(e), api.target)) from e
    known = {
        str((item.get("metadata") or {}).get("name"))
        for item in listing.get("items") or ()
        if isinstance(item, dict)
    }
    missing = [ns for ns in namespaces if ns not in known]
    if missing:
        names = sorted(known)
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise CollectorError(
            f"namespace {missing[0]!r} not found in context {api.target.context!r} "
            f"(namespaces: {shown or 'none'})"
        )
