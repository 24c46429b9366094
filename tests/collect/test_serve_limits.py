"""The query API's bounds in-process: a request finding every slot taken is answered
503 at once, and a read past its time limit is interrupted."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from klogtui.model import Batch, SourceInfo
from klogtui.serve.limits import Limits, ReaderPool, TimedOut, time_limited
from klogtui.serve.server import Api, ServeOptions
from klogtui.store import Store
from klogtui.store.reader import Reader
from tests.store_helpers import SEC, T0, key, rec, write

_FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def db(store: Store) -> Path:
    k = key(pod="web-1")
    write(
        store,
        Batch([rec(T0 + i * SEC, f"line {i}", k) for i in range(10)], sources=[SourceInfo(k)]),
    )
    return store.path


def test_a_request_finding_every_slot_taken_is_503_at_once(db: Path) -> None:
    api = Api(ServeOptions("127.0.0.1", 0, Limits(queries=2)), db, None)
    pool = api._pool  # the API's own readers, held as two slow requests would hold them
    with pool.reader(), pool.reader():
        started = time.monotonic()
        busy = api.read("/api/v1/lines", {}, None)
        assert time.monotonic() - started < 1.0
        assert busy.status == 503 and ("Retry-After", "1") in busy.headers
        assert "too many requests" in json.loads(busy.body)["error"]
    ok = api.read("/api/v1/lines", {"limit": "3"}, None)
    assert ok.status == 200 and ok.body.count(b"\n") == 3
    api.stop()


def test_a_read_past_its_time_limit_is_interrupted(db: Path) -> None:
    reader = Reader(db)
    started = time.monotonic()
    with pytest.raises(TimedOut), time_limited(reader, 0.3):
        reader._conn.execute(_FOREVER).fetchone()  # never ends on its own
    assert time.monotonic() - started < 10.0
    # The reader works again afterwards: the interrupt ended only that statement.
    assert len(reader.newest("", 5)) == 5
    reader.close()


def test_a_query_that_ends_in_time_is_not_touched(db: Path) -> None:
    reader = Reader(db)
    with time_limited(reader, 30.0):
        got = reader.newest("line", 100)
    assert [ln.message for ln in got] == [f"line {i}" for i in range(10)]
    with pytest.raises(sqlite3.OperationalError):  # an error of its own is not a timeout
        with time_limited(reader, 30.0):
            reader._conn.execute("SELECT * FROM no_such_table")
    reader.close()


def test_a_pool_reuses_its_readers(db: Path) -> None:
    pool = ReaderPool(db, 1)
    with pool.reader() as first:
        pass
    with pool.reader() as second:
        assert second is first
    pool.close()
