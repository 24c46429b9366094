"""Opening a store file: pragmas, DDL, schema version and migrations.

Every connection, the writer's and the readers', is made here so they all agree on
WAL mode, busy timeout and the checks that tell a klogtui store from any other file.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

from klogtui.errors import BrokenStoreError, StoreError
from klogtui.privacy import make_private_dirs
from klogtui.store import commit_log, field_sql, text_codec, text_keys, text_terms
from klogtui.store.ids import SLOT_BITS, TS_FROM_REMAINDER

__all__ = [
    "SCHEMA_VERSION",
    "ReadOnlyStoreError",
    "broken_store",
    "connect",
    "default_db_path",
    "ensure_private_dir",
    "foreign_file",
    "latest_store",
]

APP_ID = "klogtui"
SCHEMA_VERSION = 8
BUSY_TIMEOUT_MS = 10_000
WAL_LIMIT_BYTES = 64 * 1024 * 1024
_IO_RETRIES = 4
_IO_RETRY_S = 0.5

# Version 1. Line ids encode the timestamp (store/ids.py) so `ORDER BY id` is time
# order and FTS5 doclists, which are sorted by rowid, come out newest-first for free.
_DDL_V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sources(
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    pod TEXT NOT NULL,
    pod_uid TEXT NOT NULL,
    container TEXT NOT NULL,
    restart INTEGER NOT NULL,
    container_id TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    first_ts INTEGER NOT NULL DEFAULT 0,
    last_ts INTEGER NOT NULL DEFAULT 0,
    lines INTEGER NOT NULL DEFAULT 0,
    UNIQUE(namespace, pod, pod_uid, container, restart)
);
-- Since schema 8 the timestamp is stored as its remainder past the id's bucket start
-- and `ts` computed from it (store/ids.py): every reader selects and filters l.ts as
-- before. Stores made before keep a stored ts: the writer asks which it has (rows.py).
CREATE TABLE lines(
    id INTEGER PRIMARY KEY,
    ts_rem INTEGER NOT NULL,
    ts INTEGER GENERATED ALWAYS AS ({TS_FROM_REMAINDER}) VIRTUAL,
    source_id INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    level INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX lines_source ON lines(source_id);
-- Contentless since schema 6: lines.message may be compressed (store/text_codec.py),
-- so the index is handed each line's text when written and when deleted (retention).
-- Stores made before keep content='lines': nothing reads the index's content, every
-- write and delete hands it the text all the same.
-- Without token positions (detail=none) since schema 7: a third smaller, phrases are
-- checked on the candidate lines' text (store/text_terms.py). Stores made before
-- keep detail=full, and the readers ask the index which it has.
CREATE VIRTUAL TABLE lines_fts USING fts5(message, content='', columnsize=0, detail=none);
-- Fewer, larger merges: ingest is the hot path and queries stay sub-millisecond.
INSERT INTO lines_fts(lines_fts, rank) VALUES('automerge', 16);
INSERT INTO lines_fts(lines_fts, rank) VALUES('crisismerge', 64);
CREATE TABLE counts(
    minute INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    level INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY(minute, source_id, level, stream)
) WITHOUT ROWID;
CREATE TABLE checkpoints(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
""".replace("{TS_FROM_REMAINDER}", TS_FROM_REMAINDER)

# Version 2. The ids each commit stored, in commit order (store/commit_log.py), so that
# `klogtui query -f` prints what is new whatever its timestamps. AUTOINCREMENT: a seq
# is never reused, even after the log is trimmed empty.
_DDL_V2 = """
CREATE TABLE commit_log(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    ids BLOB NOT NULL
);
"""


def _add_commit_log(conn: sqlite3.Connection) -> None:
    conn.execute(_DDL_V2)


# Version 3. Each alert rule's state (klogtui/alerts/state_table.py), so a restart
# neither fires a resolved alert again nor forgets a firing one.
_DDL_V3 = """
CREATE TABLE alerts(
    rule TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    active_since INTEGER NOT NULL DEFAULT 0,
    fired_at INTEGER NOT NULL DEFAULT 0,
    resolved_at INTEGER NOT NULL DEFAULT 0,
    resolve_sent INTEGER NOT NULL DEFAULT 1,
    query TEXT NOT NULL DEFAULT '',
    line_id INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    annotations TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
"""


def _add_alerts(conn: sqlite3.Connection) -> None:
    conn.execute(_DDL_V3)


def _add_event_fields(conn: sqlite3.Connection) -> None:
    """Version 4 (issue 11, events): `lines.fields`, a structured line's fields other
    than its message and level as a JSON object's text (NULL when it has none), and the
    text index without terminal escapes.

    Older lines keep fields NULL. Their index entries held escapes as written; each such
    line is taken out of the index with the text it was indexed with and put back
    without escapes, so that retention, which deletes what `strip_ansi` gives, removes
    exactly what is indexed. (A store this old keys its index by line id, text_keys.py;
    a new store runs this step before its first line.)
    """
    # Imported here: they take a while to import, and only a migration needs them.
    import sqlite_utils

    from klogtui.formats.ansi import strip_ansi

    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    if "fields" not in db.table("lines").columns_dict:
        db.table("lines").add_column("fields", str)
    coloured = conn.execute(
        "SELECT id, message FROM lines WHERE instr(message, char(27)) OR instr(message, char(155))"
    ).fetchall()
    conn.executemany(
        "INSERT INTO lines_fts(lines_fts, rowid, message) VALUES ('delete', ?, ?)", coloured
    )
    conn.executemany(
        "INSERT INTO lines_fts(rowid, message) VALUES (?, ?)",
        [(line_id, strip_ansi(message)) for line_id, message in coloured],
    )


def _add_workloads(conn: sqlite3.Connection) -> None:
    """Version 5 (issue 16, enrichment): each source's owning workload, its kind
    (Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, Pod) and name, as
    collect/kube/owners.py resolves them; "" for sources stored before, or by a
    collector without API access."""
    import sqlite_utils  # slow to import; only a migration needs it

    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    have = db.table("sources").columns_dict
    for column in ("workload_kind", "workload"):
        if column not in have:
            db.table("sources").add_column(column, str, not_null_default="")


def _add_text_dicts(conn: sqlite3.Connection) -> None:
    """Version 6 (issue 12, size): the dictionaries compressed messages name
    (store/text_codec.py). Lines stored before stay TEXT, which every reader takes."""
    conn.execute(text_codec.DDL)


def _compact_bytes(conn: sqlite3.Connection) -> None:
    """Version 7 (issue 12, size): the commit log's ids compressed (store/commit_log.py).
    New stores also index without token positions (_DDL_V1); a store made before keeps
    its index as it is (store/text_terms.py reads which it has)."""
    commit_log.compress_raw_rows(conn)


def _smaller_index_and_rows(conn: sqlite3.Connection) -> None:
    """Version 8 (issue 12, size): new stores key the text index by each line's 10 µs
    bucket (store/text_keys.py; the `meta` table says so when the store is made) and keep
    each line's timestamp as its remainder past the id's bucket start (_DDL_V1). A store
    made before keeps rowid = line id and its ts column (rewriting every row would take
    minutes): readers and the writer ask which it has, and nothing changes in it."""
    del conn


# Index i upgrades a store from version i+1 to i+2; a new store is made by the DDL of
# versions 1 to 3, then the steps after them.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _add_commit_log,
    _add_alerts,
    _add_event_fields,
    _add_workloads,
    _add_text_dicts,
    _compact_bytes,
    _smaller_index_and_rows,
]
_CREATED_WHOLE = 3  # the version _DDL_V1 + _DDL_V2 + _DDL_V3 make


def default_db_path(profile: str) -> Path:
    """The store for a source profile (e.g. "local", "demo", "ctx-prod") under XDG data."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in profile) or "default"
    return Path(base) / "klogtui" / f"{safe}.db"


def ensure_private_dir(directory: Path) -> None:
    """Create the store's directory readable by the user only: logs carry secrets."""
    make_private_dirs(directory)


def broken_store(path: Path, why: str) -> BrokenStoreError:
    # Moving it aside by hand would leave its lines behind: point at the recovery.
    return BrokenStoreError(
        f"{path}: {why}. Run `klogtui query --db '{path}'` in a terminal to move it aside "
        "and copy every readable line into a new store, or pass --db to use another file.",
        path,
    )


def foreign_file(path: Path) -> StoreError:
    """Another application's file: never offered for recovery, never touched."""
    return StoreError(
        f"{path}: is an SQLite database but not a klogtui store; klogtui leaves it alone "
        "(pass --db to use another file)"
    )


def connect(path: Path, *, create: bool = True, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection to a klogtui store, creating or migrating it if needed.

    Raises:
        StoreError: the file is not a klogtui store, is corrupt, or cannot be opened.
    """
    path = Path(path)
    if not readonly:
        _check_writable(path)
    for _ in range(_IO_RETRIES):
        try:
            return _connect_or_snapshot(path, create, readonly)
        except _StoreIOError:
            # A WAL deleted under the collector reads as an I/O error until the
            # collector notices (within a second) and starts a new one.
            time.sleep(_IO_RETRY_S)
    try:
        return _connect_or_snapshot(path, create, readonly)
    except _StoreIOError as e:
        raise StoreError(
            f"{path}: cannot read the store ({e}); if its -wal file was deleted, the "
            "collector writing it starts a new one: try again"
        ) from e


class _StoreIOError(StoreError):
    """SQLite's "disk I/O error": a file beside the store changed, not damage."""


class ReadOnlyStoreError(StoreError):
    """The store (or its directory) cannot be written: it can be read, not collected into."""


class _CannotStartWal(StoreError):
    """A reader cannot create the -shm and -wal files SQLite reads a WAL store with."""


def _check_writable(path: Path) -> None:
    """Say at once when the store cannot be written, rather than retry every commit."""
    if not path.exists():
        return  # created below, or the directory's error says why not
    advice = (
        "klogtui cannot collect into it. Make it writable, or pass --db to collect into "
        "another store; `klogtui query` reads it as it is"
    )
    if not os.access(path, os.W_OK):
        mode = stat.S_IMODE(path.stat().st_mode)
        raise ReadOnlyStoreError(f"{path}: the store is read-only (mode {mode:04o}); {advice}")
    directory = path.parent
    companions = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
    if not os.access(directory, os.W_OK | os.X_OK) and not all(
        p.exists() and os.access(p, os.W_OK) for p in companions
    ):
        raise ReadOnlyStoreError(
            f"{path}: the store's directory {directory} is read-only and SQLite writes "
            f"{path.name}-wal and {path.name}-shm beside the store; {advice}"
        )


def _connect_or_snapshot(path: Path, create: bool, readonly: bool) -> sqlite3.Connection:
    try:
        return _connect(path, create, readonly)
    except _CannotStartWal:
        if Path(f"{path}-wal").exists():
            raise
        # A store closed cleanly in a directory we cannot write: no -wal means no
        # collector is writing it, so read the file as it is (SQLite's "immutable").
        return _connect(path, create, readonly, snapshot=True)


def _connect(
    path: Path, create: bool, readonly: bool, snapshot: bool = False
) -> sqlite3.Connection:
    exists = path.exists() and path.stat().st_size > 0
    # Never open the file ourselves while SQLite may hold it: closing any descriptor
    # of a file drops this process's POSIX locks on it, the writer's included, and
    # other processes would then delete the WAL under it. SQLite checks the header.
    if not exists:
        if not create:
            raise StoreError(f"{path}: no store here yet (run klogtui or klogtui collect first)")
        try:
            ensure_private_dir(path.parent)
            # Create the file ourselves so it is private (0600) before SQLite writes to it.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as e:
            raise StoreError(f"{path}: cannot create the store: {e.strerror}") from e
    target = f"{path.absolute().as_uri()}?mode=ro&immutable=1" if snapshot else str(path)
    try:
        conn = sqlite3.connect(
            target,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
            isolation_level=None,
            uri=snapshot,
        )
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the store: {e}") from e
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        field_sql.register(conn)  # `.field=~regex` queries call it
        text_codec.register(conn)  # every read of a line's text calls it
        text_terms.register(conn)  # phrases on a store whose index keeps no positions
        if not exists:
            # Retention frees pages; incremental vacuum gives them back to the file
            # system. It only takes effect on a database that has no page written yet.
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # A long reader stops checkpoints and the WAL grows; once it is done, truncate
        # the WAL back to this size instead of keeping the high-water mark on disk.
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        # 8 MiB page cache per connection; the rest comes from the OS page cache. A 32 MiB
        # writer cache gained ~3% ingest and cost the app 25 MB of RSS while following.
        conn.execute("PRAGMA cache_size=-8192")
        conn.execute("PRAGMA temp_store=MEMORY")
        _check_or_create_schema(conn, path, readonly)
        if readonly:
            conn.execute("PRAGMA query_only=1")
    except sqlite3.DatabaseError as e:
        conn.close()
        msg = str(e)
        if "locked" in msg or "busy" in msg:
            raise StoreError(f"{path}: the store is locked by another process ({msg})") from e
        if "file is not a database" in msg:
            raise broken_store(
                path, "is not an SQLite database (damaged, or not a klogtui store)"
            ) from e
        if "disk I/O error" in msg:
            raise _StoreIOError(msg) from e
        if readonly and not snapshot and ("unable to open" in msg or "readonly" in msg):
            raise _CannotStartWal(f"{path}: cannot open the store ({msg})") from e
        if "readonly" in msg:
            raise ReadOnlyStoreError(f"{path}: the store is read-only ({msg})") from e
        if "unable to open" in msg:
            raise StoreError(f"{path}: cannot open the store ({msg})") from e
        raise broken_store(path, f"is damaged or not a klogtui store ({msg})") from e
    except StoreError:
        conn.close()
        raise
    return conn


def _check_or_create_schema(conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        if readonly:
            raise StoreError(f"{path}: the store is empty (nothing collected yet)")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created it between our look and the lock.
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                # Imported here: reading a store needs none of the page reader's code
                # (`klogtui query` starts faster without it).
                from klogtui.store.pages import APPLICATION_ID

                for stmt in (_DDL_V1 + _DDL_V2 + _DDL_V3).split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                for step in MIGRATIONS[_CREATED_WHOLE - 1 :]:
                    step(conn)
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")  # ours, even damaged
                conn.executemany(
                    "INSERT INTO meta VALUES(?, ?)",
                    [
                        ("app", APP_ID),
                        ("schema_version", str(SCHEMA_VERSION)),
                        (text_keys.META_KEY, str(SLOT_BITS)),
                    ],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return
    if "meta" not in tables:
        raise foreign_file(path)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("app") != APP_ID:
        raise foreign_file(path)
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the store was written by a newer klogtui (schema {version}, this one "
            f"reads up to {SCHEMA_VERSION}); upgrade klogtui or use another --db"
        )
    if version < SCHEMA_VERSION:
        if readonly:
            raise StoreError(f"{path}: the store needs an upgrade; open it with klogtui first")
        _migrate(conn, version)


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in MIGRATIONS[version - 1 :]:
            step(conn)
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def latest_store() -> Path:
    """The most recently written store under the data dir (the one a user just used)."""
    directory = default_db_path("local").parent

    def written(db: Path) -> float:
        wal = Path(f"{db}-wal")  # commits land in the WAL first
        return max(db.stat().st_mtime, wal.stat().st_mtime if wal.exists() else 0.0)

    stores = sorted(directory.glob("*.db"), key=written) if directory.is_dir() else []
    if not stores:
        raise StoreError(
            f"no store found in {directory}; run `klogtui` or `klogtui collect` first, "
            "or pass --db FILE"
        )
    return stores[-1]
