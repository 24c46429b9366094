"""Reading a damaged store's rows straight from its pages, without SQLite.

SQLite stops at the first damaged page it meets (or refuses a file whose header is
garbled), although most pages of a damaged store are usually intact. This reads
every page of the file and its WAL (the newest copy of each page), parses the table
b-tree leaf pages, and keeps the rows that have the shape of our `lines` and
`sources` rows. It also tells a klogtui store from any other file when SQLite can no
longer say. The file format: https://www.sqlite.org/fileformat2.html
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from klogtui.model import Flag, Level, LogLine, Stream
from klogtui.store.ids import ts_of_id
from klogtui.store.text_codec import TextDecoder, is_dictionary

__all__ = ["APPLICATION_ID", "PageRows", "is_klogtui_file", "read_rows"]

APPLICATION_ID = 0x6B6C6F67  # "klog", set by schema.py in the header of new stores
_MAGIC = b"SQLite format 3\x00"
# Texts of our schema, which sqlite_master keeps on the first pages of every store.
_SIGNATURES = (b"CREATE VIRTUAL TABLE lines_fts USING fts5", b"CREATE TABLE checkpoints(")
_TABLE_LEAF = 0x0D
_WAL_MAGIC = (0x377F0682, 0x377F0683)
# id (NULL: an alias of the rowid), ts (since schema 8 its remainder), source_id,
# stream, level, flags, message, and since schema 4 fields (rows written before it have 7
# columns)
_LINE_COLUMNS = (7, 8)
# The sources row's 14 columns, and since schema 5 workload_kind and workload (rows
# written before it have 14 until they are rewritten)
_SOURCE_COLUMNS = (14, 16)


@dataclass(frozen=True, slots=True)
class SourceRow:
    id: int
    namespace: str
    pod: str
    pod_uid: str
    container: str
    restart: int
    container_id: str
    node: str
    labels: str
    state: str
    reason: str
    workload_kind: str = ""
    workload: str = ""


@dataclass
class PageRows:
    """What a scan found: rows by id (each once) and how many cells did not parse."""

    lines: dict[int, LogLine]
    sources: dict[int, SourceRow]
    bad_cells: int = 0
    # Compressed messages and fields by line id (decompressed once every page is read),
    # and the `text_dicts` rows they need.
    compressed: dict[int, bytes] = field(default_factory=dict)
    compressed_fields: dict[int, bytes] = field(default_factory=dict)
    dictionaries: dict[int, bytes] = field(default_factory=dict)


def is_klogtui_file(path: Path) -> bool:
    """True if the file carries our application id or our schema's text.

    Works on a file whose header or first page is damaged, as long as one of them
    survived; a file that is not a klogtui store is never taken for one.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(256 * 1024)
    except OSError:
        return False
    if head.startswith(_MAGIC) and len(head) >= 72:
        if struct.unpack_from(">I", head, 68)[0] == APPLICATION_ID:
            return True
    return all(sig in head for sig in _SIGNATURES)


def read_rows(path: Path) -> PageRows:
    """Every `lines` and `sources` row readable in the store at path and its WAL."""
    rows = PageRows({}, {})
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            return rows
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            wal = _wal_pages(Path(f"{path}-wal"))
            page_size = _page_size(data, wal)
            # A file cut short ends in a partial page: its cells that survive still
            # count (a cell running past the end does not parse).
            pages = {n: bytes(data[o : o + page_size]) for n, o in _offsets(size, page_size, True)}
    pages.update(wal.pages if wal.page_size == page_size else {})
    for n in _free_pages(pages):
        del pages[n]  # lines retention dropped: they stay dropped
    for page in pages.values():
        if page[0] == _TABLE_LEAF:
            _leaf(page, pages, page_size, rows)
    # Page 1 starts with the file header: its b-tree header comes after it.
    first = pages.get(1)
    if first is not None and first[100:101] == bytes([_TABLE_LEAF]):
        _leaf(first, pages, page_size, rows, start=100)
    decoder = TextDecoder(rows.dictionaries.get)
    for rowid, stored in rows.compressed.items():
        try:
            text = decoder.text(stored)
        except Exception:  # noqa: BLE001 - garbage that looked like a line, or its
            # dictionary was lost with the damage: unreadable either way
            del rows.lines[rowid]
            rows.bad_cells += 1
        else:
            rows.lines[rowid] = rows.lines[rowid]._replace(message=text)
    for rowid, stored in rows.compressed_fields.items():
        if rowid in rows.lines:
            # Fields that cannot be read are dropped; the line is kept, as written.
            with contextlib.suppress(Exception):
                rows.lines[rowid] = rows.lines[rowid]._replace(fields=decoder.text(stored))
    return rows


@dataclass
class _Wal:
    page_size: int
    pages: dict[int, bytes]


def _wal_pages(path: Path) -> _Wal:
    """The newest frame of each page in a WAL (frames of an older WAL generation skipped)."""
    try:
        data = path.read_bytes()
    except OSError:
        return _Wal(0, {})
    if len(data) < 32 or struct.unpack_from(">I", data, 0)[0] not in _WAL_MAGIC:
        return _Wal(0, {})
    page_size = struct.unpack_from(">I", data, 8)[0]
    salts = data[16:24]
    pages: dict[int, bytes] = {}
    if not _valid_page_size(page_size):
        return _Wal(0, {})
    offset = 32
    while offset + 24 + page_size <= len(data):
        pgno = struct.unpack_from(">I", data, offset)[0]
        if data[offset + 8 : offset + 16] == salts and pgno > 0:
            pages[pgno] = data[offset + 24 : offset + 24 + page_size]
        offset += 24 + page_size
    return _Wal(page_size, pages)


def _free_pages(pages: dict[int, bytes]) -> set[int]:
    """Pages on the freelist (from a readable header), which may still hold old rows."""
    first = pages.get(1, b"")
    if not first.startswith(_MAGIC):
        return set()
    free: set[int] = set()
    trunk = struct.unpack_from(">I", first, 32)[0]
    while trunk and trunk not in free and trunk in pages:
        free.add(trunk)
        page = pages[trunk]
        count = struct.unpack_from(">I", page, 4)[0]
        if 8 + 4 * count > len(page):
            break
        free.update(struct.unpack_from(f">{count}I", page, 8))
        trunk = struct.unpack_from(">I", page, 0)[0]
    return free


def _valid_page_size(n: int) -> bool:
    return 512 <= n <= 65536 and n & (n - 1) == 0


def _page_size(data: mmap.mmap, wal: _Wal) -> int:
    """From the header; else from the WAL; else the size at which most pages parse."""
    if data[:16] == _MAGIC:
        raw = struct.unpack_from(">H", data, 16)[0]
        n = 65536 if raw == 1 else raw
        if _valid_page_size(n):
            return n
    if wal.page_size:
        return wal.page_size
    size = len(data)

    def plausible(n: int) -> float:
        count = max(1, size // n)
        good = sum(1 for _, o in _offsets(size, n) if _plausible_leaf(data, o, n))
        return good / count

    # Multiples of the page size find the same share of leaf pages (a 2n "page" starts
    # at every other page); smaller sizes find a smaller share: take the smallest of
    # those close to the best.
    shares = {1 << k: plausible(1 << k) for k in range(9, 17)}
    best = max(shares.values())
    return min(n for n, share in shares.items() if share >= 0.8 * best)


def _plausible_leaf(data: mmap.mmap, o: int, page_size: int) -> bool:
    if data[o] != _TABLE_LEAF:
        return False
    cells: int
    content: int
    cells, content = struct.unpack_from(">HH", data, o + 3)
    return 0 < cells and 8 + 2 * cells <= (content or 65536) <= page_size


def _offsets(size: int, page_size: int, partial: bool = False) -> Iterator[tuple[int, int]]:
    """(page number, offset) of every whole page in a file of `size` bytes (and of the
    partial page at its end if `partial`)."""
    pages = -(-size // page_size) if partial else size // page_size
    for i in range(pages):
        yield i + 1, i * page_size


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    """SQLite's big-endian varint at i: (value, next offset)."""
    value = 0
    for k in range(8):
        byte = buf[i + k]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + k + 1
    return (value << 8) | buf[i + 8], i + 9


def _leaf(
    page: bytes, pages: dict[int, bytes], page_size: int, rows: PageRows, start: int = 0
) -> None:
    """Add the rows of one table leaf page; a cell that does not parse is counted."""
    cells = struct.unpack_from(">H", page, start + 3)[0]
    usable = page_size  # klogtui stores reserve no bytes per page
    for k in range(cells):
        try:
            at = struct.unpack_from(">H", page, start + 8 + 2 * k)[0]
            size, i = _varint(page, at)
            rowid, i = _varint(page, i)
            payload, cut = _payload(page, i, size, pages, usable)
            _keep(_signed(rowid), payload, cut, rows)
        except (IndexError, struct.error, ValueError, UnicodeError):
            rows.bad_cells += 1


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _payload(
    page: bytes, i: int, size: int, pages: dict[int, bytes], usable: int
) -> tuple[bytes, bool]:
    """A cell's payload, following its overflow chain; (bytes, cut short by damage)."""
    most = usable - 35
    if size <= most:
        return page[i : i + size], False
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    if local > most:
        local = least
    parts = [page[i : i + local]]
    got = local
    next_page = struct.unpack_from(">I", page, i + local)[0]
    seen: set[int] = set()
    while got < size:
        overflow = pages.get(next_page)
        if overflow is None or next_page in seen:
            return b"".join(parts), True  # the chain is broken: keep what was read
        seen.add(next_page)
        chunk = overflow[4 : 4 + min(usable - 4, size - got)]
        parts.append(chunk)
        got += len(chunk)
        next_page = struct.unpack_from(">I", overflow, 0)[0]
    return b"".join(parts), False


def _record(payload: bytes, cut: bool) -> list[object]:
    """The values of a record; the last text may be cut short when `cut`."""
    header_size, i = _varint(payload, 0)
    types = []
    while i < header_size:
        t, i = _varint(payload, i)
        types.append(t)
    if i != header_size:
        raise ValueError("record header overruns")
    values: list[object] = []
    pos = header_size
    for t in types:
        if t in (0, 8, 9):
            values.append(None if t == 0 else t - 8)
        elif 1 <= t <= 6:
            n = (0, 1, 2, 3, 4, 6, 8)[t]
            if pos + n > len(payload):
                raise ValueError("record cut")
            values.append(int.from_bytes(payload[pos : pos + n], "big", signed=True))
            pos += n
        elif t == 7:
            values.append(struct.unpack_from(">d", payload, pos)[0])
            pos += 8
        elif t >= 12:
            n = (t - 12) // 2
            raw = payload[pos : pos + n]
            if len(raw) < n and not cut:
                raise ValueError("record cut")
            values.append(raw.decode("utf-8", "replace") if t % 2 else raw)
            pos += n
        else:
            raise ValueError(f"serial type {t}")
    return values


def _keep(rowid: int, payload: bytes, cut: bool, rows: PageRows) -> None:
    values = _record(payload, cut)
    if len(values) in _LINE_COLUMNS and _is_line(values):
        _, stored_ts, sid, stream, level, flags, message = values[:7]
        assert isinstance(stored_ts, int) and isinstance(sid, int)
        ts = _timestamp(rowid, stored_ts)
        assert isinstance(stream, int) and isinstance(level, int) and isinstance(flags, int)
        if cut:
            flags |= Flag.TRUNCATED
        fields = values[7] if len(values) > 7 and isinstance(values[7], str) else None
        if len(values) > 7 and isinstance(values[7], bytes) and not cut:
            # Decompressed with the messages; cut short they cannot be read: dropped.
            if rowid not in rows.lines:
                rows.compressed_fields[rowid] = values[7]
        if isinstance(message, bytes) and rowid not in rows.lines:
            if cut:
                return  # a compressed message cut short cannot be read at all
            rows.compressed[rowid] = message
            message = ""
        assert isinstance(message, str)
        rows.lines.setdefault(rowid, LogLine(rowid, ts, sid, stream, level, flags, message, fields))
    elif len(values) == 2 and values[0] is None and isinstance(values[1], bytes):
        if is_dictionary(values[1]):
            rows.dictionaries.setdefault(rowid, values[1])
    elif len(values) in _SOURCE_COLUMNS and _is_source(values):
        t = [v if isinstance(v, str) else "" for v in values] + ["", ""]
        restart = values[5]
        assert isinstance(restart, int)
        rows.sources.setdefault(
            rowid,
            SourceRow(
                rowid, t[1], t[2], t[3], t[4], restart, t[6], t[7], t[8], t[9], t[10], t[14], t[15]
            ),
        )


def _timestamp(rowid: int, stored: int) -> int:
    """A line's timestamp from what its row stores in that place: the timestamp itself
    (schema 7 and before) or its remainder past the id's bucket start (schema 8, ids.py).
    Damage may have taken the schema's text, so the row says which: the id tells about
    when the line was stamped, and of the two readings the one nearer to it is right
    (a remainder is near 0; a timestamp near the id's time, years from 0 either way)."""
    start = ts_of_id(rowid)
    return stored if abs(stored - start) <= abs(stored) else start + stored


def _is_line(v: list[object]) -> bool:
    return (
        v[0] is None
        and all(isinstance(x, int) for x in v[1:6])
        and isinstance(v[6], str | bytes)
        and v[3] in tuple(Stream)
        and v[4] in tuple(Level)
        and isinstance(v[5], int)
        and 0 <= v[5] <= max(Flag)
    )


def _is_source(v: list[object]) -> bool:
    texts = (1, 2, 3, 4, 6, 7, 8, 9, 10)
    return (
        v[0] is None
        and all(isinstance(v[i], str) for i in texts)
        and all(isinstance(v[i], int) for i in (5, 11, 12, 13))
    )
