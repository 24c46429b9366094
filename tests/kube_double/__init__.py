"""A Kubernetes API test double: a real HTTP(S) server on 127.0.0.1 speaking the REST protocol.

The official `kubernetes` client (and so klogtui's collector) talks to it over real
HTTP through a generated kubeconfig, and so does the real `kubectl` (over HTTPS: it
sends no token over plain HTTP). It serves what remote mode and kubectl use:

- discovery: ``/version``, ``/api``, ``/apis``, ``/api/v1``; ``GET`` of one pod.
- ``GET /api/v1/namespaces``; ``GET /api/v1/pods`` and ``/api/v1/namespaces/{ns}/pods``:
  lists (resourceVersion, labelSelector, limit/continue) and ``?watch=1`` streams of
  JSON lines (ADDED / MODIFIED / DELETED / BOOKMARK / ERROR) with ``timeoutSeconds``;
  a compacted resourceVersion answers 410 Gone, as the HTTP status or as an ERROR event.
- pods' ``fieldSelector`` (spec.nodeName, metadata.name, metadata.namespace) and
  ``ownerReferences``; the owners themselves (apps/v1 Deployments, ReplicaSets,
  StatefulSets, DaemonSets; batch/v1 Jobs, CronJobs: get, list, discovery) made with
  `workloads.add_owned_pod`, and refused with a 403 per resource.
- ``GET /api/v1/namespaces/{ns}/pods/{pod}/log``: container, follow, timestamps,
  sinceTime (cut to the second, as the kubelet receives it), sinceSeconds, tailLines,
  previous, limitBytes, with the kubelet's choice of instance (see `Container`).
- ``POST`` of ``authentication.k8s.io/v1`` TokenReview and ``authorization.k8s.io/v1``
  SubjectAccessReview, answered from the users/permissions table (`FakeCluster.users`).
- the pod proxy ``/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}``: a GET
  streamed to the address registered in `FakeCluster.pod_hosts`, 403 without
  ``pods/proxy`` in the namespace, 503 when the pod does not answer.
- Bearer token check: 401 without the token (or a client certificate whose CN is
  accepted, over TLS), 403 for forbidden namespaces or scopes; 429 with Retry-After
  for the requests a test throttles (`Throttle`).

Tests drive it through `FakeCluster`: add pods, emit numbered lines, crash / restart /
finish containers, delete pods, break log connections mid-line, make streams silent,
expire or end watches, and split responses into tiny chunks. Everything a client
reads comes from real sockets; nothing of klogtui is imported here.

The package's parts: `times` (Go's timestamp formats), `model` (pods, containers and
their instances as the kubelet reports them), `selectors` (label selectors), `cluster`
(the state and the controls; no HTTP), and the HTTP layer: `responder` (answers and
chunked streams), `pods` (list and watch), `logs` (the log endpoint), `handler`
(routing, auth, throttling), `auth` (users and the review endpoints), `proxy` (the pod
proxy), `discovery`, `workloads` (pods' owners) and `server` (the server, kubeconfigs);
`tls` makes the test CA and certificates, `plugins` exec credential plugins.
"""

from tests.kube_double.cluster import FakeCluster, Throttle
from tests.kube_double.server import KubeDouble, write_kubeconfig
from tests.kube_double.times import NS, format_ts, parse_ts

__all__ = [
    "NS",
    "FakeCluster",
    "KubeDouble",
    "Throttle",
    "format_ts",
    "parse_ts",
    "write_kubeconfig",
]
