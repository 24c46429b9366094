"""Compressed message text (store/text_codec.py): what goes in reads back, searches and
field queries find it, retention takes it out of the index, old stores keep working."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import zstandard

from klogtui.formats.fields import stored_fields
from klogtui.formats.levels import level_of
from klogtui.model import Batch, Record, SourceKey, Stream
from klogtui.store import Store, commit_log, text_keys
from klogtui.store.retention import Retention
from klogtui.store.schema import SCHEMA_VERSION, connect
from klogtui.store.text_codec import (
    FIELDS_TRAINING,
    TRAIN_LINES,
    TextEncoder,
    Training,
)
from klogtui.store.text_terms import keeps_positions
from tests.store_helpers import SEC, T0, assert_index_exact, key
from tests.waiting import wait_for

# Written by the store writer of commit fccaf4f (schema 5): 1200 lines of pods web-0 and
# web-1 (namespace shop), one second apart; line i is _v5_message(i).
V5_STORE = Path(__file__).parent.parent / "corpus" / "store_v5.db.gz"
V5_T0 = 1_764_000_000_000_000_000

TRICKY = [
    "zoë ünïcödé 日本語 ok 🚀 and a few more words to compress",
    "\x1b[31mERROR\x1b[0m payment declined for order 42 \x1b[1mbold\x1b[22m",
    "",
    "ok",
    "-> arrow only, then the long tail of a sentence to make it compress",
    "needle " + "abcdefghij" * 6553 + " haystack",  # a 64 KiB line
    json.dumps({"level": "error", "msg": "request failed", "status": 503, "user": {"name": "zoë"}}),
    "multi\nline\nevent with a stack trace\n\tat com.example.Main.run(Main.java:42)",
]


def _record(i: int, message: str, source: SourceKey | None = None) -> Record:
    level, fields = stored_fields(message, level_of(message.encode(), message))
    return Record(T0 + i * SEC // 1000, source or key(), Stream.STDOUT, message, level, 0, fields)


def _training(n: int = TRAIN_LINES) -> list[Record]:
    # Lines alike enough to train on, of the kinds TRICKY has, each different.
    shapes = [
        "GET /api/v1/orders/{i} 200 {m} ms user={u} trace={t:x}",
        "zoë ünïcödé 中文 {i} 🚀 served user={u} in {m} ms",
        "\x1b[33mWARN\x1b[0m refund {i} queued \x1b[1mloud\x1b[22m for user {u}",
        '{{"lvl": "info", "msg": "job {i} done", "code": 200, "owner": {{"id": {u}}}}}',
        "event {i} with a traceback\n\tat com.example.Main.run(Main.java:{m})",
        "pin {t:x} abcdefghijabcdefghij straw {i}",
    ]
    return [
        _record(i, shapes[i % len(shapes)].format(i=i, m=i % 97, u=i % 13, t=i * 7919))
        for i in range(n)
    ]


def _write(store: Store, records: list[Record]) -> None:
    writer = store.start_writer()
    try:
        for start in range(0, len(records), 5_000):
            writer.submit(Batch(records[start : start + 5_000]))
        assert writer.flush(60)
    finally:
        writer.close()


def _stored_kinds(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT typeof(message), count(*) FROM lines GROUP BY 1"))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def compressed(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("text") / "store.db")
    n = TRAIN_LINES
    _write(store, _training(n))
    _write(store, [_record(n + i, m) for i, m in enumerate(TRICKY)])
    return store


def test_lines_after_the_first_dictionary_are_stored_in_under_half_the_bytes(
    compressed: Store,
) -> None:
    kinds = _stored_kinds(compressed.path)
    # The first dictionary is trained on the lines it compresses; a line stays text when
    # compressed it is no shorter (short lines, some unlike the training lines).
    assert kinds["blob"] >= TRAIN_LINES + len(TRICKY) // 2
    conn = connect(compressed.path)
    try:
        text, stored = conn.execute(
            "SELECT sum(length(CAST(klogtui_text(message) AS BLOB))), sum(length(message)) "
            "FROM lines WHERE typeof(message) = 'blob'"
        ).fetchone()
    finally:
        conn.close()
    assert stored * 2 < text


def test_compressed_lines_read_back_exactly_as_written(compressed: Store) -> None:
    reader = compressed.reader()
    try:
        newest = reader.newest("", len(TRICKY))
        by_id = [reader.line(ln.id) for ln in newest]
    finally:
        reader.close()
    assert [ln.message for ln in newest] == TRICKY
    assert [ln.message for ln in by_id if ln is not None] == [ln.message for ln in newest]


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("日本語", [0]),
        ("declined bold", [1]),  # indexed without the escapes
        ("haystack needle", [5]),
        ("->", [4]),  # no tokens: a substring test on the decompressed text
        ('"stack trace"', [7]),
        (".status=503", [6]),  # a JSON line's fields are the message itself
        (".user.name=zoë", [6]),
        ("level=error request", [6]),
        ("-> OR ok", [0, 3, 4]),
    ],
)
def test_queries_find_compressed_lines(compressed: Store, query: str, want: list[int]) -> None:
    reader = compressed.reader()
    try:
        got = reader.newest(query, 100)
    finally:
        reader.close()
    assert sorted(ln.message for ln in got) == sorted(TRICKY[i] for i in want)


def test_a_small_source_reads_back_its_compressed_lines(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    _write(store, _training())
    small = key(pod="web-small")
    _write(store, [_record(TRAIN_LINES + i, m, small) for i, m in enumerate(TRICKY * 3)])
    reader = store.reader()
    try:
        # A few sources of a big store are read one index walk each, then merged.
        got = reader.newest("pod=web-small", 2 * len(TRICKY))
    finally:
        reader.close()
    assert _stored_kinds(store.path)["blob"] > TRAIN_LINES
    assert [ln.message for ln in got] == (TRICKY * 3)[-2 * len(TRICKY) :]


def test_field_names_and_values_of_compressed_json_lines(compressed: Store) -> None:
    reader = compressed.reader()
    try:
        names = dict(reader.field_names(""))
        values, _ = reader.field_values("", ".status", 10, 1000)
    finally:
        reader.close()
    assert names.get(".status") == 1 and names.get(".user.name") == 1
    assert values == [("503", 1)]


def test_retention_deletes_compressed_lines_from_the_index(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    _write(store, _training())
    _write(store, [_record(TRAIN_LINES + i, m) for i, m in enumerate(TRICKY * 50)])
    assert _stored_kinds(store.path)["blob"] > 0
    conn = connect(store.path)
    conn.execute("BEGIN")
    below = conn.execute(
        "SELECT id FROM lines ORDER BY id LIMIT 1 OFFSET ?", (TRAIN_LINES + 100,)
    ).fetchone()[0]
    while Retention(batch=3000).delete_batch(conn, below)[0]:
        pass
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM lines").fetchone() == (len(TRICKY) * 50 - 100,)
    conn.close()
    assert_index_exact(store.path)


def test_a_line_whose_stored_text_is_damaged_says_so_and_the_rest_reads(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    training = _training()
    _write(store, training)
    conn = connect(store.path)
    first, second = (r[0] for r in conn.execute("SELECT id FROM lines ORDER BY id LIMIT 2"))
    conn.execute("UPDATE lines SET message = x'07deadbeef' WHERE id = ?", (first,))
    conn.execute("UPDATE lines SET message = x'01deadbeef' WHERE id = ?", (second,))
    conn.close()
    reader = store.reader()
    try:
        oldest = reader.oldest("", 3)
        # The index still has its words (a phrase is checked on the text, which is gone).
        found = reader.oldest("orders 0 200", 1)
    finally:
        reader.close()
    shown = [ln.message for ln in oldest]
    assert "cannot be read" in shown[0] and "dictionary 7 is not in the store" in shown[0]
    assert "cannot be read" in shown[1]
    assert shown[2] == training[2].message
    assert [ln.id for ln in found] == [first]


def _v5_message(i: int) -> str:
    """Line i of the v5 corpus store, as its generator wrote it."""
    if i % 4 == 0:
        level = "error" if i % 8 == 0 else "info"
        return json.dumps({"level": level, "msg": f"order {i} failed", "status": 500 + i % 3})
    if i % 4 == 1:
        return f"\x1b[31mERROR\x1b[0m payment {i} declined"
    if i % 4 == 2:
        return f'level=warn msg="slow query" ms={i}'
    return f"request {i} served in {i % 50} ms"


def test_a_schema_5_store_migrates_and_reads_old_and_new_lines(tmp_path: Path) -> None:
    db = tmp_path / "v5.db"
    with gzip.open(V5_STORE, "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    conn = sqlite3.connect(db)
    logged = conn.execute("SELECT seq, ids FROM commit_log").fetchall()
    conn.close()
    store = Store.open(db)  # migrates
    conn = connect(db)
    # The commit log's ids, raw before, read back the same once compressed.
    assert [(seq, len(ids) // 8) for seq, ids in logged] == [(1, 1200)]
    ids = [r[0] for r in conn.execute("SELECT id FROM lines ORDER BY id")]
    assert commit_log.read_after(conn, 0, 10) == [(1, ids)]
    assert sum(len(r[0]) for r in conn.execute("SELECT ids FROM commit_log")) < 1200 * 4
    # The old index keeps its positions: FTS5 matches phrases itself there; and its
    # rows keep the line id as rowid.
    assert keeps_positions(conn)
    assert text_keys.of(conn) == text_keys.BY_ID
    conn.close()
    new_source = SourceKey("shop", "api-0", "app", 0, "uid-api-0")
    _write(store, [_record(i, r.message, new_source) for i, r in enumerate(_training())])
    _write(store, [_record(TRAIN_LINES + i, m, new_source) for i, m in enumerate(TRICKY)])
    reader = store.reader()
    try:
        old = reader.oldest("pod=web-*", 10**6)
        declined = reader.newest("declined pod=web-*", 10**6)
        phrase = reader.newest('"payment 5 declined"', 10)
        status = reader.newest(".status=501", 10**6)
        new = reader.newest("pod=api-0", len(TRICKY))
    finally:
        reader.close()
    assert [ln.message for ln in old] == [_v5_message(i) for i in range(1200)]
    assert len(declined) == 300
    assert [ln.message for ln in phrase] == [_v5_message(5)]
    assert {ln.message for ln in status} == {_v5_message(i) for i in range(1200) if i % 12 == 4}
    assert [ln.message for ln in new] == TRICKY
    conn = sqlite3.connect(db)
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    conn.close()
    assert version == (str(SCHEMA_VERSION),) == ("8",)
    assert _stored_kinds(db)["blob"] > 0
    assert_index_exact(db)
    # Retention takes old text lines and new compressed ones out of the old index.
    conn = connect(db)
    conn.execute("BEGIN")
    below = conn.execute("SELECT id FROM lines ORDER BY id LIMIT 1 OFFSET 1300").fetchone()[0]
    while Retention(batch=500).delete_batch(conn, below)[0]:
        pass
    conn.execute("COMMIT")
    conn.close()
    assert_index_exact(db)


def test_a_new_store_indexes_without_a_copy_of_the_text(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    _write(store, _training())
    conn = connect(store.path)
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'lines_fts'").fetchone()[0]
    assert "content=''" in sql and "detail=none" in sql
    assert text_keys.of(conn) == text_keys.BY_BUCKET
    conn.close()
    assert_index_exact(store.path)


# TRAININGS' shape, on fewer lines.
_SMALL_PLAN = (Training(300, 1), Training(300, 3), Training(300, 10))


def test_later_dictionaries_trained_on_wider_samples_take_over(tmp_path: Path) -> None:
    Store.open(tmp_path / "store.db")
    conn = connect(tmp_path / "store.db")
    encoder = TextEncoder(conn, _SMALL_PLAN)
    # The first lines come from one container; the lines after from many.
    first = [f"GET /healthz 200 {i} ms" + " ok" * 5 for i in range(300)]
    later = [r.message for r in _training(5_000)]  # more than the plan samples

    def encode(lines: list[str]) -> list[str | bytearray]:
        # A later dictionary is trained on a thread and taken up by the first
        # transaction after it is ready: here, always the next one.
        stored = encoder.encode(conn, lines)
        wait_for(lambda: not encoder.training, 60, "the dictionary's training")
        return stored

    stored = encode(first)
    # Transactions of different sizes: the first 500 lines, all compressed with the first
    # dictionary (the second takes 900 lines to sample), then larger ones.
    starts = [*range(0, 500, 100), *range(500, len(later), 700)]
    for start, end in zip(starts, [*starts[1:], len(later)], strict=True):
        stored += encode(later[start:end])
    stored += encode(later[:500])
    again = TextEncoder(conn, _SMALL_PLAN).encode(conn, later[:500])  # after a restart
    dicts = [r[0] for r in conn.execute("SELECT id FROM text_dicts ORDER BY id")]
    texts = [conn.execute("SELECT klogtui_text(?)", (s,)).fetchone()[0] for s in stored + again]
    conn.close()
    assert len(dicts) == len(_SMALL_PLAN)
    assert texts == first + later + later[:500] + later[:500]

    # The lines compressed with the last dictionary are smaller than with the first.
    def size(s: str | bytearray) -> int:
        return len(s) if isinstance(s, bytearray) else len(s.encode())

    by_first = sum(size(s) for s in stored[300 : 300 + 500])
    by_last = sum(size(s) for s in stored[-500:])
    assert {s[0] for s in stored[300 : 300 + 500] if isinstance(s, bytearray)} == {dicts[0]}
    assert {s[0] for s in stored[-500:] if isinstance(s, bytearray)} == {dicts[-1]}
    assert by_last < by_first
    assert again == stored[-500:]


def test_lines_are_committed_while_a_later_dictionary_is_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training a later dictionary takes a quarter of a second of CPU or more: the
    writer's transactions go on with the dictionary before (when they waited for it,
    the explorer's follow jumped past the lines that piled up meanwhile)."""
    release, trained = threading.Event(), threading.Event()
    trainings: list[int] = []
    train = zstandard.train_dictionary

    def held_training(*args: Any, **kwargs: Any) -> zstandard.ZstdCompressionDict:
        trainings.append(len(args[1]))
        if len(trainings) == 1:  # the first: in the transaction completing its sample
            return train(*args, **kwargs)
        release.wait(120)  # a later one: held until the test lets it go
        try:
            return train(*args, **kwargs)
        finally:
            trained.set()

    monkeypatch.setattr(zstandard, "train_dictionary", held_training)
    monkeypatch.setattr(TextEncoder.__init__, "__defaults__", (_SMALL_PLAN, FIELDS_TRAINING))
    store = Store.open(tmp_path / "store.db")
    records = _training(4_000)
    sent = 0

    def commit(lines: int) -> None:
        nonlocal sent
        writer.submit(Batch(records[sent : sent + lines]))
        sent += lines
        assert writer.flush(30), "a transaction waited for a dictionary's training"

    def dictionaries() -> list[int]:
        conn = sqlite3.connect(store.path)
        try:
            return [r[0] for r in conn.execute("SELECT id FROM text_dicts ORDER BY id")]
        finally:
            conn.close()

    writer = store.start_writer()
    try:
        # The first dictionary after 300 lines, the second's sample after 900 more.
        while sent < 2_000:
            commit(100)
        wait_for(lambda: len(trainings) == 2, 30, "the second dictionary's training")
        assert len(dictionaries()) == 1
        release.set()
        wait_for(trained.is_set, 30, "the second dictionary's training")
        # Taken up by the first transaction after the training thread ends.
        while len(dictionaries()) < 2 and sent < len(records):
            commit(100)
    finally:
        release.set()
        writer.close()
    assert len(dictionaries()) == 2
    reader = store.reader()
    try:
        newest = reader.newest("", sent)
    finally:
        reader.close()
    assert [ln.message for ln in newest] == [r.message for r in records[:sent]]
    conn = sqlite3.connect(store.path)
    last = conn.execute("SELECT message FROM lines ORDER BY id DESC LIMIT 50").fetchall()
    conn.close()
    assert {m[0] for (m,) in last if isinstance(m, bytes)} == {dictionaries()[1]}


def test_fields_are_stored_compressed_and_read_back_exactly(tmp_path: Path) -> None:
    """A logfmt line's fields (a JSON object's text beside the message) are compressed
    with the messages' dictionary since schema 7; every read gives them back as written,
    and field queries, the facets and the walk per source read them."""
    store = Store.open(tmp_path / "store.db")
    _write(store, _training())
    small = key(pod="web-logfmt")
    lines = [
        f'level=warn msg="slow query {i}" ms={i % 50} user=user{i % 7} path=/api/v1/orders/{i}'
        for i in range(60)
    ]
    records = [_record(TRAIN_LINES + i, m, small) for i, m in enumerate(lines)]
    _write(store, records)
    conn = sqlite3.connect(store.path)
    kinds = dict(conn.execute("SELECT typeof(fields), count(*) FROM lines GROUP BY 1"))
    conn.close()
    reader = store.reader()
    try:
        walked = reader.newest("pod=web-logfmt", 100)  # one index walk per source
        scanned = reader.newest("slow query", 100)  # the text index
        by_field = reader.newest(".user=user3", 100)
        values = reader.field_values("pod=web-logfmt", ".user", 10)
    finally:
        reader.close()
    assert kinds["blob"] >= len(lines)
    want = {r.message: r.fields for r in records}
    assert all(r.fields for r in records)
    assert {ln.message: ln.fields for ln in walked} == want
    assert {ln.message: ln.fields for ln in scanned} == want
    assert sorted(ln.message for ln in by_field) == sorted(lines[3::7])
    assert dict(values[0]) == {f"user{u}": len(lines[u::7]) for u in range(7)}


def _fields_stored(db: Path, fields_training: Training) -> tuple[list[str | bytearray | None], int]:
    """The fields of 1,200 logfmt lines as an encoder with this fields plan stores them
    (after the messages' dictionary, trained on those lines), and the bytes the last
    400 take."""
    Store.open(db)
    conn = connect(db)
    encoder = TextEncoder(conn, _SMALL_PLAN[:1], fields_training)
    records = [
        _record(i, f'level=warn msg="slow query {i}" ms={i % 50} user=user{i % 7} path=/o/{i}')
        for i in range(1_200)
    ]
    encoder.encode(conn, [r.message for r in records])  # the messages' dictionary
    fields = [r.fields for r in records]
    stored: list[str | bytearray | None] = []
    for start in range(0, len(fields), 400):
        stored += encoder.encode_fields(conn, fields[start : start + 400])
    texts = [conn.execute("SELECT klogtui_text(?)", (s,)).fetchone()[0] for s in stored]
    again = TextEncoder(conn, _SMALL_PLAN[:1], fields_training).encode_fields(conn, fields[-400:])
    conn.close()
    assert texts == fields and all(fields)
    assert again == stored[-400:]  # a restart goes on with the same dictionary
    return stored, sum(len(s) for s in stored[-400:] if s is not None)


def test_fields_get_a_dictionary_of_their_own(tmp_path: Path) -> None:
    own, own_bytes = _fields_stored(tmp_path / "own.db", Training(300, 1))
    shared, shared_bytes = _fields_stored(tmp_path / "shared.db", Training(10**9, 1))
    conn = sqlite3.connect(tmp_path / "own.db")
    dicts = [r[0] for r in conn.execute("SELECT id FROM text_dicts ORDER BY id")]
    conn.close()
    assert len(dicts) == 2  # the messages' and the fields'
    assert {s[0] for s in own[-400:] if isinstance(s, bytearray)} == {dicts[1]}
    assert {s[0] for s in shared[-400:] if isinstance(s, bytearray)} <= {dicts[0]}
    assert own_bytes * 3 < shared_bytes * 2
