"""What the file collector tracks: container directories, physical files, content streams,
and the work found for them (by inotify events, listings, reads) to do in the next round.

Every part of the collector (scan, watch, identity, read, lifecycle) works on these
objects; `Tracked` holds the tables they share.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from io import BufferedIOBase

from klogtui.collect.files.events import StreamEvents
from klogtui.formats import LineDecoder
from klogtui.model import SourceKey
from klogtui.paths import PodLogPath

__all__ = ["ContainerDir", "ContentStream", "LogFile", "OlderRange", "Tracked"]


class ContentStream:
    """One content stream: the bytes starting with a given first line, read once.

    Its lines are joined into events per stream (stdout, stderr) by `events`. Its
    checkpoint points at the first line not stored yet, of either stream: the start of
    an event still open or of fragments still held. The lines of a stream found stored
    past that point (the other stream's event held them back) are named in ``skip``:
    read again, they are dropped. So a crash anywhere inside an event neither loses nor
    repeats a line, and the checkpoint never has to hold the event itself.
    """

    __slots__ = (
        "backfill",
        "decoder",
        "events",
        "key",
        "label",
        "last_growth",
        "malformed_seen",
        "members",
        "offset",
        "older",
        "orphan_since",
        "path",
        "source",
        "tail",
    )

    def __init__(self, key: str, source: SourceKey, path: str) -> None:
        self.key = key
        self.source = source
        self.label = str(source)
        self.path = path
        self.offset = 0  # bytes consumed, up to the end of the last complete line
        self.tail = 0  # bytes seen past offset that do not end a line yet
        self.decoder = LineDecoder()
        self.events = StreamEvents(source)
        self.malformed_seen = 0
        self.members: set[LogFile] = set()
        self.last_growth = time.monotonic()
        self.orphan_since = 0.0
        # Recent first (see backfill): the older bytes still to read, its checkpoint's
        # second range; and whether this stream is older history read after the recent
        # lines (it must not finish a newer stream's open events).
        self.older: OlderRange | None = None
        self.backfill = False

    @property
    def holding(self) -> bool:
        """Lines read but not stored yet: held fragments or events open or waiting."""
        return self.decoder.pending or self.events.holding

    def unstored_from(self, stream: int) -> int:
        """Where the stream's lines not stored yet start (`offset` if all are stored)."""
        first = self.events.first_unsent(stream)
        if first is not None:
            return first
        pending = self.decoder.pending_start(stream) if stream else None
        if pending is not None:
            return pending
        return max(self.offset, self.decoder.skip[stream])

    def position(self) -> tuple[int, dict[str, int]]:
        """Where reading resumes after a restart, and the streams' lines stored past it."""
        ends = {stream: self.unstored_from(stream) for stream in (0, 1, 2)}
        offset = min(self.offset, *ends.values())
        return offset, {str(stream): end for stream, end in ends.items() if end > offset}

    def checkpoint(self) -> str:
        s = self.source
        offset, skip = self.position()
        saved: dict[str, object] = {
            "offset": offset,
            "skip": skip,
            "path": self.path,
            "decoder": self.decoder.state(positioned=True),
            "namespace": s.namespace,
            "pod": s.pod,
            "pod_uid": s.pod_uid,
            "container": s.container,
            "restart": s.restart,
        }
        older = self.older
        if older is not None:
            older_offset, older_skip = older.position()
            saved["older"] = {
                "offset": older_offset,
                "end": older.end,
                "skip": older_skip,
                "decoder": older.decoder.state(positioned=True),
            }
        return json.dumps(saved, separators=(",", ":"))


class OlderRange(ContentStream):
    """The older bytes of a content stream, [offset, end), read after its recent lines
    (see backfill). It decodes and groups on its own; its position is saved in its
    owner's checkpoint (``"older"``), with the owner's, in the same batch.

    `end` starts a line that starts an event in both streams (see recent), so the
    range's events are whole when it reaches it.
    """

    __slots__ = ("end", "handle", "owner")

    def __init__(self, owner: ContentStream, offset: int, end: int) -> None:
        super().__init__(owner.key, owner.source, owner.path)
        self.owner = owner
        self.offset = offset
        self.end = end
        self.backfill = True
        self.handle: BufferedIOBase | None = None  # its own, so rotation cannot take the bytes


class LogFile:
    """One physical file (device, inode) found in a container directory."""

    __slots__ = (
        "cdir",
        "compressed",
        "done",
        "failed",
        "fd",
        "gone",
        "grew_while_shed",
        "head",
        "ident",
        "info",
        "last_growth",
        "name",
        "shed",
        "signature",
        "size_seen",
        "stream",
        "watch",
    )

    def __init__(
        self, ident: tuple[int, int], cdir: ContainerDir, name: str, info: PodLogPath
    ) -> None:
        self.ident = ident
        self.cdir = cdir
        self.name = name
        self.info = info
        self.compressed = info.compressed
        self.fd: int | None = None
        self.watch: int | None = None  # a watch of its own when the name is a symlink
        self.head: bytes | None = None  # the first line, once written
        self.stream: ContentStream | None = None
        self.signature: tuple[int, int] = (-1, -1)  # (size, mtime) when it last failed
        self.size_seen = 0  # its size when last read to the end
        self.done = False  # a .gz read to its end
        self.failed = False  # unreadable: reported once, skipped until it changes
        self.gone = False  # no name leads to it any more
        self.last_growth = time.monotonic()
        self.shed = False  # closed for want of file descriptors, though still written
        self.grew_while_shed = False  # ... and written to since: bytes only its name holds

    @property
    def path(self) -> str:
        return os.path.join(self.cdir.path, self.name)

    def order(self) -> tuple[str, int, int, str, bool]:
        """Oldest content first: by restart, rotated siblings by stamp, then the live file."""
        i = self.info
        rotated = i.rotated_stamp
        return (self.cdir.path, i.restart, 0 if rotated else 1, rotated or "", i.compressed)

    def note_growth(self) -> None:
        """It was written to: if it was closed for want of descriptors, say so."""
        if self.fd is None and self.shed:
            self.grew_while_shed = True


class ContainerDir:
    """A container directory: ``pods/<ns>_<pod>_<uid>/<container>``."""

    __slots__ = ("by_name", "gone", "keys", "max_restart", "path", "pod_path", "real", "wd")

    def __init__(self, path: str, real: str) -> None:
        self.path = path
        self.real = real
        self.pod_path = os.path.dirname(path)
        self.wd: int | None = None
        self.by_name: dict[str, LogFile] = {}
        self.keys: set[SourceKey] = set()
        self.max_restart = -1
        self.gone = False


@dataclass(eq=False, slots=True)
class Tracked:
    """The tables every part of the collector shares.

    Attributes:
        files: the files tracked, by (device, inode).
        closing: deleted files still open: read until quiet, then released.
        to_read: files to read in the next round.
        rescan: container directories to list again.
        rescan_pods: pod directories to list again.
        dangling: directories with a log name that is a broken link.
        links_dirty: ``containers/`` changed: list it again.
        overflow: inotify dropped events: rescan everything.
        older: older ranges restored from checkpoints, for the backfill to take.
    """

    files: dict[tuple[int, int], LogFile] = field(default_factory=dict)
    closing: set[LogFile] = field(default_factory=set)
    to_read: set[LogFile] = field(default_factory=set)
    rescan: set[ContainerDir] = field(default_factory=set)
    rescan_pods: set[str] = field(default_factory=set)
    dangling: set[ContainerDir] = field(default_factory=set)
    links_dirty: bool = False
    overflow: bool = False
    older: list[OlderRange] = field(default_factory=list)
