"""Which content a file holds: its content stream, named by the container instance and the
file's first line, so rotation, gzip and copytruncate never make a line read twice.

Paths change (rotation renames, gzip makes a new inode with the same content,
copytruncate copies then empties) and inode numbers are reused, so neither a path nor an
inode says what was read. What was read is a *content stream*: the bytes that start with
a given first line of a given container instance. Its identity is a hash of the instance
(namespace, pod, uid, container, restart) and the file's first line (capped at 1 KiB).
All files holding that content share one stream and one read offset:

- rename rotation keeps the inode, so nothing changes;
- ``x.log.<stamp>.gz`` decompresses to the same first line: it joins the stream of the
  file it was made from and is read only from where that file stopped;
- a copytruncate copy joins the original's stream; the truncated original gets new
  first bytes, hence a new stream read from offset 0;
- a file whose first bytes change under the same inode (truncated and rewritten, or an
  inode reused while we were stopped) is a new stream: read from 0.

Checkpoints are keyed ``file:<hash>`` and hold the offset, the line decoder's pending
partial fragments and the source; a stream read recent first (see backfill) also holds
``"older"``: the range before its recent lines still to read, with its own offset, end,
skips and fragments. Checkpoints without it (older versions) mean no such range. A
stream's checkpoint is deleted once no file holds its content any more.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
import zlib
from collections.abc import Mapping
from typing import Any

from klogtui.collect.base import CollectorStats
from klogtui.collect.batching import BatchBuilder
from klogtui.collect.files.fds import Descriptors
from klogtui.collect.files.sources import Sources
from klogtui.collect.files.tracked import ContentStream, LogFile, OlderRange, Tracked
from klogtui.model import SourceKey

__all__ = [
    "CHECKPOINT_PREFIX",
    "HEAD_MAX",
    "Identity",
    "end_if_older",
    "head_of",
    "read_head",
    "saved_source",
    "stream_key",
]

CHECKPOINT_PREFIX = "file:"
HEAD_MAX = 1024  # a file's identity covers its first line, at most this many bytes


def head_of(data: bytes) -> bytes | None:
    """A file's identifying head from its first bytes: its first line, capped."""
    nl = data.find(b"\n")
    if nl >= 0:
        return data[: nl + 1]
    return data if len(data) >= HEAD_MAX else None


def read_head(path: str, compressed: bool) -> bytes | None:
    """The identifying head of the file at path (decompressed if it is a .gz)."""
    if compressed:
        with gzip.open(path, "rb") as g:
            data: bytes = g.readline(HEAD_MAX)
        # A .gz is complete: an unterminated first line is all there is.
        return data or None
    with open(path, "rb") as fh:
        return head_of(fh.read(HEAD_MAX))


def end_if_older(fd: int, since_ns: int) -> int:
    """Where to start reading a file new to us under --since: after its last complete
    line if it was last written before since_ns (all of it is older), else at 0 (its
    lines older than since_ns are dropped as they are decoded)."""
    fst = os.fstat(fd)
    if fst.st_mtime_ns >= since_ns:
        return 0
    tail_start = max(0, fst.st_size - HEAD_MAX * 64)
    nl = os.pread(fd, fst.st_size - tail_start, tail_start).rfind(b"\n")
    return tail_start + nl + 1 if nl >= 0 else 0


def stream_key(source: SourceKey, head: bytes) -> str:
    """The checkpoint key of the content that starts with head in source's files."""
    i = source
    ident = f"{i.namespace}\0{i.pod}\0{i.pod_uid}\0{i.container}\0{i.restart}\0"
    return CHECKPOINT_PREFIX + hashlib.blake2b(ident.encode() + head, digest_size=16).hexdigest()


def saved_source(saved: Mapping[str, Any]) -> SourceKey | None:
    """The source a saved checkpoint names, or None if it names none."""
    try:
        return SourceKey(
            str(saved["namespace"]),
            str(saved["pod"]),
            str(saved["container"]),
            int(saved["restart"]),
            str(saved["pod_uid"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


class Identity:
    """The content streams, and the checkpoints of a past run not claimed yet.

    Args:
        stats: where unreadable checkpoints and files are reported.
        tracked: the files tracked.
        fds: opens files and handles the shortage of descriptors.
        sources: one key per container instance.
        batch: where checkpoint deletions go.
        checkpoints: committed checkpoints (only ``file:`` keys are used).
        since_ns: under --since, files new to us start after their lines older than it.
    """

    def __init__(
        self,
        stats: CollectorStats,
        tracked: Tracked,
        fds: Descriptors,
        sources: Sources,
        batch: BatchBuilder,
        checkpoints: Mapping[str, str],
        since_ns: int,
    ) -> None:
        self.stats = stats
        self._tracked = tracked
        self._fds = fds
        self._sources = sources
        self._batch = batch
        self._since_ns = since_ns
        self.streams: dict[str, ContentStream] = {}
        self.orphans: set[ContentStream] = set()  # no file holds them (see orphan_check)
        self._saved: dict[str, dict[str, Any]] = {}
        for key, value in checkpoints.items():
            if not key.startswith(CHECKPOINT_PREFIX):
                continue
            try:
                saved = json.loads(value)
                int(saved["offset"])
            except (ValueError, KeyError, TypeError):
                stats.error(f"checkpoint {key}", "unreadable checkpoint ignored")
                continue
            self._saved[key] = saved

    def identify(self, f: LogFile, finished: bool = False) -> None:
        """Attach a file to the content stream its first line names (once it has one).

        A `finished` file (deleted, or no longer written) whose whole content is one
        short unterminated line is named by that content: it is all there will be.
        """
        try:
            if f.compressed:
                head = self._fds.with_fds(lambda: read_head(f.path, True))
            elif f.fd is not None:
                data = os.pread(f.fd, HEAD_MAX, 0)
                head = head_of(data) or (data if finished and data else None)
            else:
                return
        except (OSError, EOFError, zlib.error) as e:
            if not (isinstance(e, OSError) and self._fds.retry_later(e, f)):
                self._fds.fail(f, e)
            return
        if f.compressed:
            self._fds.opened += 1
        if head is None:
            return
        source = self._sources.key(f.info)
        key = stream_key(source, head)
        st = self.streams.get(key)
        if st is None:
            st = self.streams[key] = ContentStream(key, source, f.path)
            self._batch.keep_checkpoint(key)
            saved = self._saved.pop(key, None)
            if saved is not None:
                st.offset = int(saved["offset"])
                self._restore(st, saved, f.path)
                older = saved.get("older")
                if older is not None:
                    try:
                        rng = OlderRange(st, int(older["offset"]), int(older["end"]))
                    except (KeyError, ValueError, TypeError):
                        self.stats.error(f.path, "checkpoint's older range unreadable; dropped")
                    else:
                        self._restore(rng, older, f.path)
                        st.older = rng
                        self._tracked.older.append(rng)
            elif self._since_ns and f.fd is not None:
                st.offset = end_if_older(f.fd, self._since_ns)
        f.head = head
        f.stream = st
        st.members.add(f)
        self.orphans.discard(st)

    def _restore(self, st: ContentStream, saved: Mapping[str, Any], path: str) -> None:
        """Put a checkpoint's partial-line state and skips back into st's decoder."""
        try:
            st.decoder.restore(saved["decoder"])
            for stream, end in saved.get("skip", {}).items():
                st.decoder.skip[int(stream)] = int(end)
        except (KeyError, ValueError, IndexError, TypeError, AttributeError):
            self.stats.error(path, "checkpoint's partial-line state unreadable; dropped")

    def detach(self, f: LogFile) -> None:
        """The file no longer holds its stream's content (truncated, rewritten)."""
        st = f.stream
        f.stream = None
        f.head = None
        f.size_seen = 0
        if st is not None:
            st.members.discard(f)
            self.orphan_check(st)

    def orphan_check(self, st: ContentStream) -> None:
        """A file left st: read its compressed copies if only they are left; with no
        file left, st becomes an orphan (forgotten after a grace, see settle)."""
        if st.members:
            if all(m.compressed for m in st.members):
                # Only compressed copies are left: they go on from where the
                # uncompressed file stopped.
                self._tracked.to_read.update(st.members)
            return
        st.orphan_since = time.monotonic()
        self.orphans.add(st)

    def forget_unclaimed_checkpoints(self) -> None:
        """Delete checkpoints of content no file holds any more.

        Kept while a file of the same container instance is not identified yet
        (unreadable, or its first line not written): it may hold that content.
        """
        key_of = self._sources.key
        waiting = {key_of(f.info) for f in self._tracked.files.values() if f.stream is None}
        for key, saved in sorted(self._saved.items()):
            source = saved_source(saved)
            if source in waiting:
                continue
            del self._saved[key]
            self._batch.delete_checkpoint(key)
            path = saved.get("path")
            older = saved.get("older")
            if isinstance(older, dict):
                try:
                    lost = int(older["end"]) - int(older["offset"])
                except (KeyError, ValueError, TypeError):
                    lost = 0
                # Recent first read its newest lines; the file with the older ones went
                # (rotated away and deleted) while we were not running.
                self.stats.error(
                    str(path), f"older history lost: {lost:,} bytes were deleted before read"
                )
            if source is not None and not self._sources.seen(source) and isinstance(path, str):
                # None of its files was found: its pod was deleted while we were not
                # running, or is being deleted now. In that case the pod's watch (set by
                # the scan, before its listing) reports it, and `Scanner.scan_pod` marks it.
                pod = os.path.dirname(os.path.dirname(path))
                self._sources.note_unseen(pod, source)
                if not os.path.isdir(pod):
                    self._sources.pod_gone(pod)
