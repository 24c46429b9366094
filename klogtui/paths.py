"""Names of kubelet's container log files, parsed into the metadata they carry.

Kubelet writes ``/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log``,
rotates it to ``<restart>.log.<YYYYMMDD-HHMMSS>``, later gzips that (``.gz``, via a
``.tmp`` file), and links ``/var/log/containers/<pod>_<namespace>_<container>-<id>.log``
to the live file. Kubernetes names never contain ``_``, so splitting on it is safe.
The metadata comes from these names because they outlive the pod in the API.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = [
    "ContainerLink",
    "PodLogPath",
    "log_file_order_key",
    "parse_container_link_name",
    "parse_pod_log_path",
]

# Lenient on purpose: a name kubelet wrote is never refused for a character the
# Kubernetes validation would not allow; only "_" (the separator), "/" and hidden
# or empty names are.
_NAME = r"[A-Za-z0-9][A-Za-z0-9.-]*"
_NAME_RE = re.compile(_NAME)
_UID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_LOG_FILE_RE = re.compile(r"(\d+)\.log(?:\.(\d{8}-\d{6})(\.gz)?)?")
_CONTAINER_ID_RE = re.compile(r"[0-9a-fA-F]{1,64}")


@dataclass(frozen=True, slots=True)
class PodLogPath:
    """What a file under ``/var/log/pods`` says about the log it holds.

    Attributes:
        namespace: the pod's namespace.
        pod: the pod's name.
        pod_uid: the pod's UID (for static pods, kubelet's config hash).
        container: the container's name.
        restart: the container's restart count: which instance wrote the file.
        rotated_stamp: ``YYYYMMDD-HHMMSS`` for a rotated file, None for the live one.
        compressed: True for a gzipped rotated file.
    """

    namespace: str
    pod: str
    pod_uid: str
    container: str
    restart: int
    rotated_stamp: str | None = None
    compressed: bool = False

    @property
    def rotated(self) -> bool:
        """True for a rotated (no longer written) file."""
        return self.rotated_stamp is not None


@dataclass(frozen=True, slots=True)
class ContainerLink:
    """What a ``/var/log/containers`` link name says.

    Attributes:
        pod: the pod's name.
        namespace: the pod's namespace.
        container: the container's name.
        container_id: the runtime's container ID in hex; shorter than 64 digits
            when kubelet cut the name to 255 bytes.
    """

    pod: str
    namespace: str
    container: str
    container_id: str


def parse_pod_log_path(path: str | os.PathLike[str]) -> PodLogPath | None:
    """Parse ``…/pods/<ns>_<pod>_<uid>/<container>/<n>.log[.<stamp>[.gz]]``.

    Args:
        path: a file path; only its last four components are looked at.

    Returns:
        The metadata, or None when the path is not a container log file: other
        names, in-progress ``.tmp`` files of a compression, bad pod directories.
    """
    parts = os.fspath(path).replace(os.sep, "/").split("/")
    if len(parts) < 4 or parts[-4] != "pods":
        return None
    pod_dir, container, filename = parts[-3:]
    m = _LOG_FILE_RE.fullmatch(filename)
    if m is None or _NAME_RE.fullmatch(container) is None:
        return None
    fields = pod_dir.split("_")
    if len(fields) != 3:
        return None
    namespace, pod, uid = fields
    if (
        _NAME_RE.fullmatch(namespace) is None
        or _NAME_RE.fullmatch(pod) is None
        or _UID_RE.fullmatch(uid) is None
    ):
        return None
    return PodLogPath(
        namespace=namespace,
        pod=pod,
        pod_uid=uid,
        container=container,
        restart=int(m[1]),
        rotated_stamp=m[2],
        compressed=m[3] is not None,
    )


def parse_container_link_name(name: str) -> ContainerLink | None:
    """Parse a ``/var/log/containers`` name: ``<pod>_<ns>_<container>-<id>.log``.

    Kubelet cuts the name before ``.log`` to fit 255 bytes, which can shorten the
    container ID; any non-empty hex ID after the last ``-`` is accepted.

    Args:
        name: the file name (a path is accepted; its last component is used).

    Returns:
        The metadata, or None when the name does not have that form.
    """
    base = name.replace(os.sep, "/").rsplit("/", 1)[-1]
    if not base.endswith(".log"):
        return None
    fields = base[:-4].split("_")
    if len(fields) != 3:
        return None
    pod, namespace, rest = fields
    container, dash, container_id = rest.rpartition("-")
    if (
        not dash
        or _CONTAINER_ID_RE.fullmatch(container_id) is None
        or _NAME_RE.fullmatch(container) is None
        or _NAME_RE.fullmatch(pod) is None
        or _NAME_RE.fullmatch(namespace) is None
    ):
        return None
    return ContainerLink(
        pod=pod, namespace=namespace, container=container, container_id=container_id
    )


def log_file_order_key(p: PodLogPath) -> tuple[int, int, str, int]:
    """Sort key that orders one container directory's files oldest first.

    By restart count; within one, rotated files by their stamp, then the live file.
    A rotated file and its compressed copy (briefly both present) order the
    compressed one first.

    Args:
        p: a parsed file name.

    Returns:
        A tuple to sort by.
    """
    if p.rotated_stamp is None:
        return (p.restart, 1, "", 0)
    return (p.restart, 0, p.rotated_stamp, 0 if p.compressed else 1)
