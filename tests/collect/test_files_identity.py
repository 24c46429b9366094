"""What names a file's content: its container instance and first line, whatever its path,
inode or compression; and what a checkpoint of a past run resumes. Real files, no thread."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from klogtui.collect.files.identity import (
    CHECKPOINT_PREFIX,
    HEAD_MAX,
    end_if_older,
    head_of,
    read_head,
    saved_source,
    stream_key,
)
from klogtui.model import SourceKey
from tests.helpers_files import STAMP, T0, Container, Parts, cri, lines, seq_of

KEY = SourceKey("shop", "web-1", "app", 0, "uid-1")


def test_head_is_the_first_line_or_a_capped_start(tmp_path: Path) -> None:
    assert head_of(b"first\nsecond\n") == b"first\n"
    assert head_of(b"no end yet") is None  # a first line still being written names nothing
    long = tmp_path / "0.log"
    long.write_bytes(b"x" * (HEAD_MAX + 10))
    assert read_head(str(long), compressed=False) == b"x" * HEAD_MAX


def test_a_gz_copy_has_the_head_and_key_of_its_original(tmp_path: Path) -> None:
    plain = tmp_path / "0.log.1"
    plain.write_bytes(lines(range(3)))
    gz = tmp_path / "0.log.1.gz"
    gz.write_bytes(gzip.compress(lines(range(3))))
    head = read_head(str(plain), compressed=False)
    assert head == cri(0)
    assert read_head(str(gz), compressed=True) == head
    assert stream_key(KEY, head).startswith(CHECKPOINT_PREFIX)


def test_key_differs_by_instance_and_by_first_line() -> None:
    key = stream_key(KEY, cri(0))
    assert stream_key(SourceKey("shop", "web-1", "app", 0, "uid-1"), cri(0)) == key
    assert stream_key(KEY._replace(restart=1), cri(0)) != key
    assert stream_key(KEY._replace(pod_uid="uid-2"), cri(0)) != key
    assert stream_key(KEY, cri(1)) != key


def test_under_since_an_older_file_starts_after_its_last_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(lines(range(5)) + b"unterminated")
    since = T0 + 10**12
    fd = os.open(path, os.O_RDONLY)
    try:
        os.utime(path, ns=(since - 1, since - 1))
        assert end_if_older(fd, since) == len(lines(range(5)))
        os.utime(path, ns=(since, since))
        assert end_if_older(fd, since) == 0  # written to since: decoded, old lines dropped
    finally:
        os.close(fd)


def test_saved_source_names_the_instance_or_nothing() -> None:
    saved = {"namespace": "shop", "pod": "web-1", "pod_uid": "uid-1", "container": "app"}
    assert saved_source({**saved, "restart": 0}) == KEY
    assert saved_source(saved) is None
    assert saved_source({**saved, "restart": "zero"}) is None


def test_a_file_and_its_gz_copy_share_one_stream(tmp_path: Path) -> None:
    c = Container(tmp_path)
    c.append(lines(range(3)))
    rotated = c.rotate(STAMP)
    copy = rotated.with_name(rotated.name + ".gz")
    copy.write_bytes(gzip.compress(rotated.read_bytes()))
    c.append(lines(range(3, 6)))  # the new live file: other content
    parts = Parts()
    try:
        old, gz, live = (parts.track(p) for p in (rotated, copy, c.path()))
        for f in (old, gz, live):
            parts.identity.identify(f)
        assert old.stream is gz.stream is not None
        assert live.stream is not None and live.stream is not old.stream
        assert old.stream is not None and old.stream.members == {old, gz}
    finally:
        parts.close()


def test_a_checkpoint_resumes_its_stream_where_it_stopped(tmp_path: Path) -> None:
    c = Container(tmp_path)
    c.append(lines(range(10)))
    key = stream_key(KEY, cri(0))
    saved = {"offset": len(lines(range(4))), "path": str(c.path()), "namespace": "shop"}
    saved |= {"pod": "web-1", "pod_uid": "uid-1", "container": "app", "restart": 0}
    saved["decoder"] = {"v": 1, "format": "cri", "pending": {}}
    parts = Parts({key: json.dumps(saved), CHECKPOINT_PREFIX + "bad": "{not json"})
    try:
        got = parts.read(parts.track(c.path()))
        assert [seq_of(m) for m in got] == list(range(4, 10))
        assert [e.message for e in parts.stats.snapshot().errors] == [
            "unreadable checkpoint ignored"
        ]
    finally:
        parts.close()


def test_checkpoints_no_file_holds_are_deleted_unless_one_may_still(tmp_path: Path) -> None:
    c = Container(tmp_path)
    c.append(b"first line not finished")  # unidentified: may hold restart 0's content
    other = Container(tmp_path, name="sidecar")
    other.append(lines(range(3)))

    def checkpoint(container: Container) -> str:
        saved = {"offset": 0, "path": str(container.path()), "namespace": "shop", "pod": "web-1"}
        return json.dumps(saved | {"pod_uid": "uid-1", "container": container.name, "restart": 0})

    kept, dropped = CHECKPOINT_PREFIX + "app-0", CHECKPOINT_PREFIX + "sidecar-0"
    parts = Parts({kept: checkpoint(c), dropped: checkpoint(other)})
    try:
        for path in (c.path(), other.path()):
            parts.identity.identify(parts.track(path))
        parts.identity.forget_unclaimed_checkpoints()
        batch = parts.batch.take()
        assert batch is not None
        assert list(batch.deleted_checkpoints) == [dropped]
    finally:
        parts.close()
