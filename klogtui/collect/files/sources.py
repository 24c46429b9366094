"""The container instances the files belong to, as the store knows them: one `SourceKey`
object per instance, its state (running, terminated, deleted), container id and, where
a `PodMetaFeed` tells them, its pod's labels and workload; each change told to the store
with the next batch.
"""

from __future__ import annotations

from typing import Literal

from klogtui.collect.batching import BatchBuilder
from klogtui.collect.pod_meta import PodMeta
from klogtui.model import SourceInfo, SourceKey
from klogtui.paths import PodLogPath

__all__ = ["SourceState", "Sources"]

SourceState = Literal["running", "terminated", "deleted"]
_PODS_KEPT = 4096  # pods' metadata kept for sources not seen yet


class Sources:
    """States and container ids of the sources seen in file paths.

    Args:
        node: node name stored with each new source.
        batch: where source updates go.
    """

    def __init__(self, node: str, batch: BatchBuilder) -> None:
        self.node = node
        self._batch = batch
        self._keys: dict[SourceKey, SourceKey] = {}
        self._states: dict[SourceKey, str] = {}
        self._container_ids: dict[SourceKey, str] = {}
        # Sources that only a checkpoint of a past run names (no file of theirs found), by
        # pod directory: marked deleted when a listing finds that directory gone.
        self._unseen: dict[str, set[SourceKey]] = {}
        # What feeds said about pods, by uid and by (namespace, name) for paths without
        # one; and the sources seen, by (namespace, pod), to tell them when it changes.
        self._pods: dict[str, PodMeta] = {}
        self._pods_by_name: dict[tuple[str, str], PodMeta] = {}
        self._by_pod: dict[tuple[str, str], list[SourceKey]] = {}

    def key(self, info: PodLogPath) -> SourceKey:
        k = SourceKey(info.namespace, info.pod, info.container, info.restart, info.pod_uid)
        # One object per source: the writer compares keys by identity on its fast path.
        return self._keys.setdefault(k, k)

    def seen(self, key: SourceKey) -> bool:
        """Whether a file of this source was found (it has a state)."""
        return key in self._states

    def note_state(self, key: SourceKey, state: SourceState) -> None:
        old = self._states.get(key)
        if old == state:
            return
        self._states[key] = state
        pod = None
        if old is None:
            self._by_pod.setdefault((key.namespace, key.pod), []).append(key)
            pod = self._pod_of(key)
        self._batch.add_source(
            SourceInfo(
                key,
                container_id=self._container_ids.get(key) if old is None else None,
                node=self.node if old is None else None,
                state=state,
                labels=None if pod is None else dict(pod.labels),
                workload_kind=None if pod is None else pod.workload_kind,
                workload=None if pod is None else pod.workload,
            )
        )

    def note_pod(self, pod: PodMeta) -> None:
        """A feed told what a pod is: its sources seen so far get it now, later ones
        when first seen."""
        self._pods.pop(pod.uid, None)  # to the end: the oldest told goes first
        self._pods[pod.uid] = pod
        self._pods_by_name[(pod.namespace, pod.name)] = pod
        if len(self._pods) > _PODS_KEPT:
            # Only sources seen later need a pod's metadata; a node runs ~100 pods at
            # once, and a pod told about this long ago has long been seen or gone.
            old = self._pods.pop(next(iter(self._pods)))
            if self._pods_by_name.get((old.namespace, old.name)) is old:
                del self._pods_by_name[(old.namespace, old.name)]
        for key in self._by_pod.get((pod.namespace, pod.name), ()):
            if key.pod_uid in ("", pod.uid):
                self._batch.add_source(
                    SourceInfo(
                        key,
                        labels=dict(pod.labels),
                        workload_kind=pod.workload_kind,
                        workload=pod.workload,
                    )
                )

    def _pod_of(self, key: SourceKey) -> PodMeta | None:
        if key.pod_uid:
            return self._pods.get(key.pod_uid)
        return self._pods_by_name.get((key.namespace, key.pod))

    def note_container_id(self, key: SourceKey, container_id: str) -> None:
        """A containers/ symlink names the source's container id."""
        if self._container_ids.get(key) != container_id:
            self._container_ids[key] = container_id
            if key in self._states:
                self._batch.add_source(SourceInfo(key, container_id=container_id))

    def note_unseen(self, pod: str, key: SourceKey) -> None:
        """Only a checkpoint names this source: deleted once its pod directory is gone."""
        self._unseen.setdefault(pod, set()).add(key)

    def pod_gone(self, pod: str) -> None:
        """Mark deleted the sources of a vanished pod that no file of ours stands for
        (those that had one are marked by `Scanner.dir_gone`)."""
        for key in sorted(self._unseen.pop(pod, ()), key=str):
            self.note_state(key, "deleted")
