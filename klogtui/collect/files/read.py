"""Reading a file's new bytes into records: plain files in bounded turns, gzip files
from where their uncompressed original stopped, over-long lines cut into pieces, and a
stream's unterminated end stored once it is known to be final.

Partial lines are reassembled per content stream by its `LineDecoder`, and messages
joined into events (stack traces) per stream by its `Grouper`s; the bytes of an
unfinished last line stay in the file (the stream's offset stops before them), and a
checkpoint points at the start of an event still open, so it never has to hold them.
"""

from __future__ import annotations

import gzip
import os
import threading
import time
import zlib
from collections.abc import Callable

from klogtui.collect.base import CollectorStats
from klogtui.collect.batching import BatchBuilder
from klogtui.collect.files.fds import Descriptors
from klogtui.collect.files.identity import Identity
from klogtui.collect.files.tracked import ContentStream, LogFile, OlderRange, Tracked
from klogtui.model import Flag, SourceKey

__all__ = ["CHUNK", "LONG_LINE_MAX", "TURN_CHUNKS", "FileReader"]

# Bytes read per system call: few calls, and a batch stays small enough that the
# writer's bounded queue (back-pressure) holds a bounded amount of memory.
CHUNK = 256 << 10
TURN_CHUNKS = 32  # chunks read from one file before the others get a turn
LONG_LINE_MAX = 8 << 20  # a line without "\n" this long is cut into records of this size


class FileReader:
    """Reads tracked files into the batch, as far as their content stream was not read.

    Args:
        stats: counts lines and malformed lines; reports unreadable files.
        tracked: the work reads add to (a busy file's next turn, directories to list).
        fds: opens files and handles the shortage of descriptors.
        identity: names each file's content stream.
        batch: where records and checkpoints go.
        submit_if_due: hands the batch over if it is full or old enough.
        stop: set when the collector is asked to stop.
        caught_up: set once the backfill is over (until then files are read to their end).
        since_ns: lines stamped before it are dropped.
    """

    def __init__(
        self,
        stats: CollectorStats,
        tracked: Tracked,
        fds: Descriptors,
        identity: Identity,
        batch: BatchBuilder,
        submit_if_due: Callable[[], None],
        stop: threading.Event,
        caught_up: threading.Event,
        since_ns: int,
    ) -> None:
        self.stats = stats
        self._tracked = tracked
        self._fds = fds
        self._identity = identity
        self._batch = batch
        self._submit_if_due = submit_if_due
        self._stop = stop
        self._caught_up = caught_up
        self._since_ns = since_ns
        # Streams holding a partial line (bytes without "\n", or decoder fragments).
        self.unsettled: set[ContentStream] = set()
        # Streams with an event open (a line that more lines may join).
        self.grouping: set[ContentStream] = set()
        # The content stream of each container instance read last: when another one
        # (the file after a rotation) is read, the older one's open events are finished
        # first, so the instance's records stay in the order they were written.
        self._last_read: dict[SourceKey, ContentStream] = {}

    def read(self, f: LogFile, to_end: bool = False, turns: int | None = None) -> bool:
        """Read what this file holds beyond its stream's offset.

        Args:
            f: the file.
            to_end: read to its end now, even if it is busy (it is being released).
            turns: read at most this many chunks (backfill interleaving).

        Returns:
            True if the file has more to read after a limited turn.
        """
        if f.failed:
            return False
        if f.fd is None and not f.compressed and not self._fds.reopen(f):
            return False
        if f.stream is None:
            self._identity.identify(f)
            if f.stream is None:
                return False
        if f.compressed:
            self._read_gz(f)
            return False
        if turns is None:
            self._read_plain(f, to_end or not self._caught_up.is_set())
            return False
        self._read_plain(f, False, turns)
        if f in self._tracked.to_read:
            self._tracked.to_read.discard(f)
            return True
        return False

    def _read_plain(self, f: LogFile, to_end: bool, turns: int = TURN_CHUNKS) -> None:
        fd = f.fd
        st = f.stream
        assert fd is not None and st is not None
        pread = os.pread
        stopping = self._stop.is_set
        # A file that keeps growing gets a bounded turn, then the others get theirs.
        if to_end:
            turns = -1
        while not stopping():
            if turns == 0:
                self._tracked.to_read.add(f)
                return
            turns -= 1
            head = f.head
            assert head is not None
            off = st.offset
            try:
                data = pread(fd, CHUNK, off)
                # Checked after the read: if the first bytes are still ours, so was the read.
                same = pread(fd, len(head), 0) == head
            except OSError as e:
                self._fds.fail(f, e)
                return
            if not same:
                self._identity.detach(f)
                self._identity.identify(f)
                if f.stream is None:
                    return
                st = f.stream
                continue
            n = len(data)
            if not n:
                size = os.fstat(fd).st_size
                if (
                    size < off
                    and size < f.size_seen
                    and all(m is f or m.compressed for m in st.members)
                ):
                    # Cut shorter with its first line intact: go on from its new end.
                    self.stats.error(f.path, f"file shrank from {f.size_seen} to {size} bytes")
                    st.offset = size
                    st.tail = 0
                    self.mark(st)
                f.size_seen = size
                return
            consumed = self._consume(st, data, off)
            if consumed == 0 and n == CHUNK:
                consumed = self._consume_long_line(st, fd, off)
            if consumed == 0:
                st.tail = n  # an unterminated line: wait for its end
                f.size_seen = off + n
                self.unsettled.add(st)
                return
            st.offset = off + consumed
            st.tail = n - consumed if n < CHUNK else 0
            st.last_growth = f.last_growth = time.monotonic()
            if st.tail or st.decoder.pending:
                self.unsettled.add(st)
            self.mark(st)
            self._submit_if_due()
            if n < CHUNK:
                f.size_seen = off + n
                if f.info.rotated_stamp is not None:
                    self._flush_stream_groups(st)  # rotated away: its events are whole
                return

    def _consume_long_line(self, st: ContentStream, fd: int, off: int) -> int:
        """A whole chunk without "\\n": find the line's end, or cut it at LONG_LINE_MAX."""
        data = os.pread(fd, LONG_LINE_MAX, off)
        nl = data.find(b"\n")
        if nl >= 0:
            return self._consume(st, data[: nl + 1], off)
        if len(data) < LONG_LINE_MAX:
            return 0  # still being written
        return self._consume(st, data + b"\n", off) - 1  # cut at LONG_LINE_MAX

    def _consume_capped(self, st: ContentStream, data: bytes, base: int) -> int:
        """_consume, and a line of LONG_LINE_MAX bytes or more without its end is cut
        there and stored (its rest is read as the next line)."""
        consumed = self._consume(st, data, base)
        if consumed == 0 and len(data) >= LONG_LINE_MAX:
            consumed = self._consume(st, data[:LONG_LINE_MAX] + b"\n", base) - 1
        return consumed

    def _read_gz(self, f: LogFile) -> None:
        st = f.stream
        assert st is not None
        if f.done or any(not m.compressed for m in st.members):
            # The uncompressed file with this content is read instead: a rotation is
            # never read twice because it was compressed.
            return
        pos = st.offset
        buf = b""
        try:
            with self._fds.with_fds(lambda: gzip.open(f.path, "rb")) as g:
                if pos:
                    g.seek(pos)
                while True:
                    if self._stop.is_set():
                        return  # the checkpoint says where to go on next time
                    # read1: what one read of the file gives. read() would drop the
                    # good data it holds when a later part is damaged (truncated,
                    # trailing garbage); this way everything before the damage is kept.
                    data = g.read1(CHUNK)
                    if not data:
                        break
                    if buf:
                        data = buf + data
                    consumed = self._consume_capped(st, data, pos)
                    buf = data[consumed:]
                    pos += consumed
                    st.offset = pos
                    st.last_growth = time.monotonic()
                    self.mark(st)
                    self._submit_if_due()
        except FileNotFoundError:
            self._tracked.rescan.add(f.cdir)
            return
        except (OSError, EOFError, zlib.error) as e:
            if not (isinstance(e, OSError) and self._fds.retry_later(e, f)):
                self._fds.fail(f, e)
            return
        self._fds.opened += 1
        f.done = True
        self._flush_stream_groups(st)  # a compressed rotation is never written again
        if buf:
            # A complete .gz that ends without "\n": its writer died mid-line.
            st.offset = pos + len(buf)
            self.emit_final(st, buf)
        if st.decoder.pending:
            self.unsettled.add(st)

    def _consume(self, st: ContentStream, data: bytes, base: int) -> int:
        """Decode the complete lines at the start of data (read at offset `base`) and
        join them into events; returns the bytes used."""
        cut = data.rfind(b"\n")
        if cut < 0:
            return 0
        lines = data.split(b"\n")
        lines.pop()  # what follows the last "\n" is not a complete line
        if not st.backfill:  # older history never finishes a newer stream's events
            before = self._last_read.get(st.source)
            if before is not st:
                if before is not None and before in self.grouping:
                    self._flush_stream_groups(before)
                self._last_read[st.source] = st
        now = time.time_ns()
        mono = time.monotonic()
        st.events.add_many(st.decoder.feed_lines(lines, now, base), mono)
        self._release(st)
        malformed = st.decoder.malformed
        if malformed != st.malformed_seen:
            self.stats.add_malformed(malformed - st.malformed_seen)
            st.malformed_seen = malformed
        return cut + 1

    def _release(self, st: ContentStream) -> None:
        """Add the stream's finished events to the batch, in file order."""
        since = self._since_ns
        records = [r for r in st.events.release() if r.ts >= since]
        if records:
            self._batch.add_records(records)
            self.stats.add_lines(
                st.label, len(records), records[-1].ts, sum(len(r.message) for r in records)
            )
        if st.events.deadline is not None:
            self.grouping.add(st)

    def expire_groups(self, now: float) -> float | None:
        """Store the events held past their hold time; returns the next deadline."""
        nearest: float | None = None
        for st in list(self.grouping):
            if st.backfill:
                continue  # read in turns: its events are whole when its end is reached
            st.events.expire(now)
            self._release(st)
            self.mark(st)
            deadline = st.events.deadline
            if deadline is None:
                self.grouping.discard(st)
            elif nearest is None or deadline < nearest:
                nearest = deadline
        return nearest

    def read_older(self, rng: OlderRange, data: bytes) -> None:
        """Decode data, read from an older range at its offset, as far as it holds
        complete lines; at the range's end its events are whole and handed over."""
        off = rng.offset
        consumed = self._consume_capped(rng, data, off)
        rng.offset = off + consumed
        if rng.offset >= rng.end:
            self._flush_stream_groups(rng)
        else:
            self.mark(rng)
        self._submit_if_due()

    def finish_groups(self, st: ContentStream) -> None:
        """Store the events a stream still holds open (its content is complete)."""
        if st in self.grouping or st.events.holding:
            self._flush_stream_groups(st)

    def flush_groups(self) -> None:
        """Store every event still open, whatever its hold time."""
        for st in list(self.grouping):
            self._flush_stream_groups(st)

    def _flush_stream_groups(self, st: ContentStream) -> None:
        st.events.flush()
        self._release(st)
        self.mark(st)
        self.grouping.discard(st)

    def emit_final(self, st: ContentStream, raw: bytes | None) -> None:
        """Store a stream's unfinished end: an unterminated last line, held fragments,
        the events still open."""
        now = time.time_ns()
        mono = time.monotonic()
        final = st.decoder.feed(raw, now, st.offset - len(raw)) if raw else []
        final += st.decoder.flush(now)
        for p in final:
            p.flags |= Flag.UNTERMINATED
        st.events.add_many(final, mono)
        self._flush_stream_groups(st)

    def finish_stream(self, st: ContentStream, f: LogFile | None) -> None:
        """Store what a finished stream still holds; its unterminated end is read from f."""
        raw = None
        if st.tail and f is not None and f.fd is not None:
            raw = os.pread(f.fd, st.tail, st.offset)
            if b"\n" in raw:
                self._tracked.to_read.add(f)  # it grew meanwhile: not finished after all
                return
            st.offset += len(raw)
            st.tail = 0
        self.emit_final(st, raw)
        self.unsettled.discard(st)

    def mark(self, st: ContentStream) -> None:
        """The stream's checkpoint goes into the batch that holds its latest lines."""
        if isinstance(st, OlderRange):
            st = st.owner  # whose checkpoint holds the range's position
        self._batch.put_checkpoint(st.key, st.checkpoint)
        if st.members:
            st.path = next(iter(st.members)).path
