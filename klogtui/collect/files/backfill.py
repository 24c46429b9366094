"""Recent first: a container with much unread history has its newest lines read first,
then goes live, and its older history is read afterwards, a chunk at a time, only when
no live line waits. The older history of all containers is read side by side in time
order, as the first backfill reads files: line ids are timestamps, so the store then
appends; read container after container, every container's lines would land between
those of the ones read before, and a backfill would take much longer.

At start, for each container whose files hold more than `Tuning.recent_min_bytes`
unread, the newest files are walked back to the line where its last
`Tuning.recent_window_s` begin (see recent). The file holding that line is split: its
content stream reads on from there, and the bytes before it become the stream's
`OlderRange`, saved in the stream's checkpoint with it. Older files are *deferred*:
their streams are read by the backfill after the recent lines, in time order with the
ranges (see above).

Exactly once: a range's position is in its owner's checkpoint, committed with the lines
it read, like any stream's. A range reads through a descriptor of its own, so a rotation
(rename, gzip, deletion) cannot take its bytes while we run; after a restart it reads
from any file holding its content (the .gz rotation, say), and if none does, the loss is
reported. Deferred files keep their descriptors until read (see lifecycle), and a
deleted one is drained as every deleted file is.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import os
import threading
import zlib
from io import BufferedIOBase

from klogtui.collect.base import CollectorStats
from klogtui.collect.files.identity import Identity
from klogtui.collect.files.read import CHUNK, LONG_LINE_MAX, FileReader
from klogtui.collect.files.recent import first_ts, last_line_end, last_ts, recent_start
from klogtui.collect.files.tracked import LogFile, OlderRange, Tracked

__all__ = ["Backfill"]


class Backfill:
    """The older history still to read: ranges of split streams, and deferred files.

    Args:
        stats: where a loss of history is reported.
        tracked: the files tracked (and older ranges restored from checkpoints).
        identity: the content streams.
        reader: reads and decodes.
        window_s: how much of each container's newest history is read first.
        min_bytes: containers with less unread than this are read oldest first, whole.
    """

    def __init__(
        self,
        stats: CollectorStats,
        tracked: Tracked,
        identity: Identity,
        reader: FileReader,
        window_s: float,
        min_bytes: int,
    ) -> None:
        self.stats = stats
        self._tracked = tracked
        self._identity = identity
        self._reader = reader
        self._window_ns = int(window_s * 1e9)
        self._min_bytes = min_bytes
        # What is left to read, ranges and deferred files, as a heap of (timestamp of
        # its next line, 0 if not known; order found; the range or file).
        self._queue: list[tuple[int, int, OlderRange | LogFile]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()  # the progress figures are read by the UI's thread
        self._total = 0  # bytes of older history found
        self._done = 0  # ... read (or lost)

    # -- planning ---------------------------------------------------------------------------

    def plan(self, files: list[LogFile]) -> list[LogFile]:
        """Split each container's history into recent and older; returns the files to
        read now (oldest first, as given), the rest wait for `turn`."""
        by_dir: dict[str, list[LogFile]] = {}
        for f in files:
            by_dir.setdefault(f.cdir.path, []).append(f)
        recent: list[LogFile] = []
        for cfiles in by_dir.values():
            if sum(map(_unread, cfiles)) < self._min_bytes:
                recent += cfiles
            else:
                recent += self._plan_container(cfiles)
        chosen = set(recent)
        return [f for f in files if f in chosen]

    def _plan_container(self, cfiles: list[LogFile]) -> list[LogFile]:
        newest = cfiles[-1]
        if newest.fd is None or newest.stream is None or newest.compressed:
            return cfiles
        end = last_line_end(newest.fd, os.fstat(newest.fd).st_size)
        ts = last_ts(newest.fd, end)
        if ts is None:
            return cfiles
        cut_ns = ts - self._window_ns
        recent: list[LogFile] = []
        older: list[LogFile] = []
        for f in reversed(cfiles):
            st = f.stream
            if older or f.fd is None or st is None or f.compressed:
                older.append(f)
                continue
            recent.append(f)
            if st.older is not None:
                older = [f]  # restored with its range: what is older waits, as before
                continue
            hi = end if f is newest else last_line_end(f.fd, os.fstat(f.fd).st_size)
            lo = st.offset
            split = recent_start(f.fd, lo, hi, cut_ns) if lo < hi else lo
            if split > lo and split >= max(st.decoder.skip):
                self._split(f, split)
                older.append(f)
            elif split > lo:
                older.append(f)  # lines past it were stored: read it whole, as before
        recent_streams = {f.stream for f in recent}
        for f in reversed(older):
            st = f.stream
            if f in recent or st in recent_streams:
                continue
            heapq.heappush(self._queue, (_next_ts(f), next(self._order), f))
            self._tracked.to_read.discard(f)
            if st is not None:
                st.backfill = True
            with self._lock:
                self._total += _unread(f)
        return recent

    def _split(self, f: LogFile, at: int) -> None:
        """f's stream reads on from `at`; what it had not read before becomes its range."""
        st = f.stream
        assert st is not None
        rng = OlderRange(st, st.offset, at)
        # Fragments held from a past run and the skips belong to the older bytes.
        rng.decoder, st.decoder = st.decoder, rng.decoder
        st.offset = at
        st.older = rng
        self._tracked.older.append(rng)
        self._reader.mark(st)

    # -- reading ----------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """Older history is left to read."""
        return bool(self._queue or self._tracked.older)

    def progress(self) -> tuple[int, int]:
        """(bytes read, bytes found) of the older history."""
        with self._lock:
            return self._done, self._total

    def turn(self) -> None:
        """Read one chunk of older history: of the range or deferred file whose next
        line is the oldest (one whose next line's time is not known goes first)."""
        while self._tracked.older:
            rng = self._tracked.older.pop()
            heapq.heappush(self._queue, (_next_ts(rng), next(self._order), rng))
            with self._lock:
                self._total += rng.end - rng.offset
        if not self._queue:
            return
        ts, order, item = heapq.heappop(self._queue)
        if isinstance(item, OlderRange):
            more = self._range_turn(item)
        else:
            more = self._file_turn(item)
        if more:
            heapq.heappush(self._queue, (_next_ts(item) or ts, order, item))

    def _range_turn(self, rng: OlderRange) -> bool:
        """Read a chunk of the range; False once it is read whole (or lost)."""
        off = rng.offset
        want = min(CHUNK, rng.end - off)
        data = self._range_bytes(rng, off, want)
        if data is not None and b"\n" not in data and len(data) == want < rng.end - off:
            data = self._range_bytes(rng, off, min(LONG_LINE_MAX, rng.end - off))
        if data is None:
            return False
        if not data:
            self._lose(rng, "the file was cut shorter before they were read")
            return False
        self._reader.read_older(rng, data)
        with self._lock:
            self._done += rng.offset - off
        if rng.offset >= rng.end:
            self._end_range(rng)
            return False
        return True

    def _range_bytes(self, rng: OlderRange, off: int, n: int) -> bytes | None:
        """n bytes of the range's content at off; None if they are lost (reported)."""
        try:
            if rng.handle is None:
                rng.handle = self._open_range(rng)
                if rng.handle is None:
                    self._lose(rng, "no file holds them any more")
                    return None
            rng.handle.seek(off)
            return rng.handle.read(n)
        except (OSError, EOFError, zlib.error) as e:
            self._lose(rng, f"unreadable: {e}")
            return None

    def _open_range(self, rng: OlderRange) -> BufferedIOBase | None:
        """A file of its own onto the range's content: a copy of a plain member's
        descriptor, else its .gz rotation; None if no file holds the content."""
        for m in sorted(rng.owner.members, key=lambda m: m.compressed):
            if m.fd is not None:
                return os.fdopen(os.dup(m.fd), "rb")
            if m.compressed:
                return gzip.open(m.path, "rb")
        return None

    def _lose(self, rng: OlderRange, why: str) -> None:
        self.stats.error(
            rng.owner.path, f"older history lost: {rng.end - rng.offset:,} bytes, {why}"
        )
        with self._lock:
            self._done += rng.end - rng.offset
        rng.offset = rng.end
        self._reader.finish_groups(rng)
        self._end_range(rng)

    def _end_range(self, rng: OlderRange) -> None:
        if rng.handle is not None:
            rng.handle.close()
            rng.handle = None
        owner = rng.owner
        owner.older = None
        self._reader.mark(owner)
        if not owner.members:
            self._identity.orphan_check(owner)

    def _file_turn(self, f: LogFile) -> bool:
        """Read a chunk of a deferred file; False once it is read whole."""
        st = f.stream
        before = _unread(f)
        more = not f.gone and self._reader.read(f, turns=1)
        if not more:
            if f.stream is not None:
                f.stream.backfill = False
                self._reader.finish_groups(f.stream)
        with self._lock:
            self._done += max(0, before - (_unread(f) if more else 0))
        if st is not None and st is not f.stream:
            st.backfill = False
        return more


def _next_ts(item: OlderRange | LogFile) -> int:
    """The time of the next line a range or deferred file holds (0 if not known: a
    compressed file, one not open, a line longer than a probe)."""
    if isinstance(item, OlderRange):
        fds = [m.fd for m in item.owner.members if m.fd is not None and not m.compressed]
        fd, offset = (fds[0] if fds else None), item.offset
    else:
        fd = None if item.compressed else item.fd
        offset = item.stream.offset if item.stream else 0
    ts = None if fd is None else first_ts(fd, offset)
    return ts or 0


def _unread(f: LogFile) -> int:
    """Bytes of f not read yet (a .gz counts whole unless its content was read)."""
    try:
        if f.compressed:
            return 0 if f.done or (f.stream and f.stream.offset) else os.stat(f.path).st_size
        if f.fd is None:
            return 0
        size = os.fstat(f.fd).st_size
    except OSError:
        return 0
    return max(0, size - (f.stream.offset if f.stream else 0))
