"""When a file's reading ends: a deleted file is drained and released once quiet, a file
no longer written is closed when idle, a partial line is stored after its grace, and a
content stream no file holds is forgotten (its checkpoint deleted) after its own grace.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from klogtui.collect.base import CollectorStats
from klogtui.collect.batching import BatchBuilder
from klogtui.collect.files.fds import Descriptors
from klogtui.collect.files.identity import Identity
from klogtui.collect.files.read import FileReader
from klogtui.collect.files.tracked import LogFile, Tracked

if TYPE_CHECKING:
    from klogtui.collect.files.collector import Tuning

__all__ = ["FileLifecycle"]


class FileLifecycle:
    """Ends the reading of files and streams, on events and on the periodic round.

    Args:
        tuning: the graces and intervals (release_s, idle_close_s, partial_grace_s,
            orphan_grace_s).
        stats: reports lines lost with files closed for want of descriptors.
        tracked: the files tracked, and those being released.
        fds: closes files.
        identity: the content streams.
        reader: reads files to their end; stores unfinished ends.
        batch: where forgotten streams' checkpoint deletions go.
    """

    def __init__(
        self,
        tuning: Tuning,
        stats: CollectorStats,
        tracked: Tracked,
        fds: Descriptors,
        identity: Identity,
        reader: FileReader,
        batch: BatchBuilder,
    ) -> None:
        self._tuning = tuning
        self.stats = stats
        self._tracked = tracked
        self._fds = fds
        self._identity = identity
        self._reader = reader
        self._batch = batch

    def gone(self, f: LogFile) -> None:
        """No name leads to this file any more: drain it, release it once quiet."""
        if f.gone:
            return
        f.gone = True
        if f.fd is None and f.grew_while_shed:
            # Loss we could not prevent (no descriptor to keep its bytes): said once.
            self.stats.error(
                "file descriptors",
                "files closed for want of descriptors were deleted before their last "
                "lines could be read: those lines are lost (raise ulimit -n)",
            )
        if self._tracked.files.get(f.ident) is f:
            del self._tracked.files[f.ident]
        if f.cdir.by_name.get(f.name) is f:
            del f.cdir.by_name[f.name]
        if f.fd is not None and f.stream is not None:
            self._reader.read(f, to_end=True)
            f.last_growth = time.monotonic()
            self._tracked.closing.add(f)
        else:
            self.release(f)

    def release(self, f: LogFile) -> None:
        """Read a gone file to its end, store its unfinished end if it was the last copy
        of its content, and close it."""
        self._tracked.closing.discard(f)
        if f.fd is not None and f.stream is None and not f.failed:
            self._identity.identify(f, finished=True)
        if f.fd is not None and f.stream is not None:
            self._reader.read(f, to_end=True)
            st = f.stream
            if st is not None and st.members == {f} and (st.tail or st.holding):
                self._reader.finish_stream(st, f)
        self._fds.close_fd(f)
        left = f.stream
        if left is not None:
            left.members.discard(f)
            self._identity.orphan_check(left)

    def is_live(self, f: LogFile) -> bool:
        """Whether a container may still write to this file."""
        i = f.info
        return (
            not f.gone
            and not f.compressed
            and i.rotated_stamp is None
            and i.restart >= f.cdir.max_restart
            and not f.cdir.gone
        )

    def settle(self, now: float) -> None:
        """The periodic round: release quiet deleted files, store partial lines past their
        grace, forget streams no file holds, close files no longer written when idle."""
        t = self._tuning
        for f in list(self._tracked.closing):
            # A deleted file gets no events: look for growth, release it once quiet.
            self._reader.read(f, to_end=True)
            if now - f.last_growth >= t.release_s:
                self.release(f)
        for st in list(self._reader.unsettled):
            if not st.tail and not st.decoder.pending:
                self._reader.unsettled.discard(st)
            elif now - st.last_growth < t.partial_grace_s:
                continue
            elif st.tail and not any(self.is_live(m) for m in st.members):
                readable = [m for m in st.members if m.fd is not None]
                self._reader.finish_stream(st, readable[0] if readable else None)
            elif st.decoder.pending:
                # Fragments of a line whose end never came: store what there is.
                self._reader.emit_final(st, None)
        for st in list(self._identity.orphans):
            if st.members:
                self._identity.orphans.discard(st)
            elif st.older is not None:
                continue  # its older range reads on (its own descriptor), then it goes
            elif now - st.orphan_since >= t.orphan_grace_s:
                self._identity.orphans.discard(st)
                self._reader.unsettled.discard(st)
                if st.holding:
                    self._reader.emit_final(st, None)
                del self._identity.streams[st.key]
                self._batch.delete_checkpoint(st.key)
        for f in list(self._tracked.files.values()):
            if (
                f.stream is None
                and f.fd is not None
                and not f.failed
                and now - f.last_growth >= t.partial_grace_s
                and not self.is_live(f)
            ):
                # Shorter than a line and no longer written: read what there is.
                self._identity.identify(f, finished=True)
                if f.stream is not None:
                    self._tracked.to_read.add(f)
            fs = f.stream
            if (
                f.fd is not None
                and fs is not None
                and now - f.last_growth >= t.idle_close_s
                and not fs.tail
                and not fs.holding
                and not fs.backfill  # older history still to read: its name may go
                and not self.is_live(f)
            ):
                self._fds.close_fd(f)
