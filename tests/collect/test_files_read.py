"""Reading one file's new bytes into records, driven step by step on real files: plain
files, gzip copies of them, unterminated and over-long lines. No thread, no inotify."""

from __future__ import annotations

import gzip
from pathlib import Path

from klogtui.collect.files.read import LONG_LINE_MAX
from klogtui.model import Flag
from tests.helpers_files import STAMP, Container, Parts, cri, lines, seq_of

MiB = 1 << 20


def test_a_gz_copy_is_read_only_from_where_its_original_stopped(tmp_path: Path) -> None:
    c = Container(tmp_path)
    c.append(lines(range(10)))
    parts = Parts()
    try:
        plain = parts.track(c.path())
        assert [seq_of(m) for m in parts.read(plain)] == list(range(10))
        c.append(lines(range(10, 20)))  # written, then rotated and compressed unread
        rotated = c.rotate(STAMP)
        gz_path = rotated.with_name(rotated.name + ".gz")
        gz_path.write_bytes(gzip.compress(rotated.read_bytes()))
        gz = parts.track(gz_path)
        # While the uncompressed file is there, it is the one read.
        assert parts.read(gz) == []
        parts.identity.detach(plain)  # the original is gone
        assert [seq_of(m) for m in parts.read(gz)] == list(range(10, 20))
        assert parts.read(gz) == []  # a .gz read to its end is done
    finally:
        parts.close()


def test_an_unterminated_line_waits_for_its_end(tmp_path: Path) -> None:
    c = Container(tmp_path)
    c.append(cri(0) + cri(1)[:-5])
    parts = Parts()
    try:
        f = parts.track(c.path())
        assert [seq_of(m) for m in parts.read(f)] == [0]
        assert f.stream is not None and f.stream in parts.reader.unsettled
        c.append(cri(1)[-5:])
        assert [seq_of(m) for m in parts.read(f)] == [1]
    finally:
        parts.close()


def test_a_line_over_the_limit_in_a_gz_is_cut_and_nothing_after_is_lost(tmp_path: Path) -> None:
    # As in a plain file: past LONG_LINE_MAX without "\n" the line is cut there.
    assert LONG_LINE_MAX == 8 * MiB
    c = Container(tmp_path)
    path = c.path(stamp=STAMP, gz=True)
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(cri(0) + cri(1, text="seq=1 " + "f" * (9 * MiB)) + cri(2)))
    parts = Parts()
    try:
        parts.read(parts.track(path))
        records = parts.batch.records
        assert [(seq_of(r.message), r.flags) for r in records if r.message.startswith("seq=")] == [
            (0, 0),
            (1, Flag.TRUNCATED),
            (2, 0),
        ]
        rest = [r for r in records if not r.message.startswith("seq=")]
        assert [r.flags for r in rest] == [Flag.MALFORMED | Flag.TRUNCATED]
    finally:
        parts.close()
