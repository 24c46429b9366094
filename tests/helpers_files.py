"""Kubelet-style log files written line by line, and a file collector running into a
real store, for the file collector's tests.

Every test line says ``seq=<n>`` and carries a timestamp that grows with n, so a test
can state exactly which lines must be stored, once each, in which order.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from klogtui.collect.base import CollectorStats
from klogtui.collect.batching import BatchBuilder
from klogtui.collect.files.collector import FileCollector, Tuning
from klogtui.collect.files.fds import Descriptors
from klogtui.collect.files.identity import CHECKPOINT_PREFIX, Identity
from klogtui.collect.files.read import FileReader
from klogtui.collect.files.sources import Sources
from klogtui.collect.files.tracked import ContainerDir, LogFile, Tracked
from klogtui.collect.files.watch import Watches
from klogtui.collect.pod_meta import PodMetaFeed
from klogtui.model import Batch, Sink, Source, SourceKey
from klogtui.paths import parse_pod_log_path
from klogtui.store import Store, Writer, text_keys
from klogtui.store.schema import connect
from klogtui.store.text_codec import message_sql
from tests.waiting import wait_for

T0 = 1_795_000_000_000_000_000  # 2026-11-19T07:46:40Z
STAMP = "20261119-074640"

# Fast timings so lifecycle tests finish in a second or two.
FAST = Tuning(
    batch_interval_s=0.02,
    partial_grace_s=0.5,
    release_s=0.2,
    idle_close_s=0.5,
    poll_interval_s=0.5,
    rescan_interval_s=60.0,
    orphan_grace_s=0.3,
)


def ts_text(ts: int) -> str:
    secs, ns = divmod(ts, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns:09d}Z"


def cri(seq: int, stream: str = "stdout", tag: str = "F", text: str | None = None) -> bytes:
    """One CRI line for sequence number seq (its timestamp is T0 + seq ms)."""
    body = f"seq={seq}" if text is None else text
    return f"{ts_text(T0 + seq * 1_000_000)} {stream} {tag} {body}\n".encode()


def lines(seqs: Iterable[int]) -> bytes:
    return b"".join(cri(s) for s in seqs)


@dataclass
class Container:
    """One container's log directory: ``<log_dir>/pods/<ns>_<pod>_<uid>/<name>``."""

    log_dir: Path
    namespace: str = "shop"
    pod: str = "web-1"
    uid: str = "uid-1"
    name: str = "app"

    @property
    def dir(self) -> Path:
        return self.log_dir / "pods" / f"{self.namespace}_{self.pod}_{self.uid}" / self.name

    @property
    def pod_dir(self) -> Path:
        return self.dir.parent

    def key(self, restart: int = 0) -> SourceKey:
        return SourceKey(self.namespace, self.pod, self.name, restart, self.uid)

    def path(self, restart: int = 0, stamp: str | None = None, gz: bool = False) -> Path:
        name = f"{restart}.log" + (f".{stamp}" if stamp else "") + (".gz" if gz else "")
        return self.dir / name

    def append(self, data: bytes, restart: int = 0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.path(restart), "ab") as fh:
            fh.write(data)

    def rotate(self, stamp: str, restart: int = 0) -> Path:
        """Kubelet's rotation: rename the live file (its writer may keep writing to it)."""
        rotated = self.path(restart, stamp)
        os.rename(self.path(restart), rotated)
        return rotated

    def compress(self, stamp: str, restart: int = 0) -> None:
        """Kubelet's compression: gzip into <log>.tmp, rename that to <log>.gz, remove <log>."""
        plain = self.path(restart, stamp)
        tmp = plain.with_name(plain.name + ".tmp")
        with open(plain, "rb") as src, gzip.open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.rename(tmp, self.path(restart, stamp, gz=True))
        plain.unlink()

    def link(self, container_id: str, restart: int = 0, links_dir: Path | None = None) -> Path:
        """The kubelet's containers/ symlink to this container's live file."""
        links = links_dir or self.log_dir / "containers"
        links.mkdir(parents=True, exist_ok=True)
        link = links / f"{self.pod}_{self.namespace}_{self.name}-{container_id}.log"
        link.symlink_to(self.path(restart))
        return link


def seq_of(message: str) -> int:
    return int(message.split("seq=", 1)[1].split()[0])


def assert_indexed_exactly(db: Path, token: str) -> None:
    """The text index holds exactly the stored lines, each of which says `token`: a
    search for it finds every line's text key (text_keys.py: its id, or its bucket) once
    and nothing else. (A crash between a line's commit and its indexing would lose the
    hit; one of a rolled-back line, add one.)"""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        key = text_keys.of(conn).key_of("id")
        ids = [r[0] for r in conn.execute(f"SELECT DISTINCT {key} FROM lines ORDER BY 1")]
        hits = [
            r[0]
            for r in conn.execute(
                "SELECT rowid FROM lines_fts WHERE lines_fts MATCH ? ORDER BY rowid", (token,)
            )
        ]
    finally:
        conn.close()
    assert hits == ids, f"{len(hits)} search hits for {len(ids)} lines"


@dataclass(frozen=True)
class Stored:
    key: SourceKey
    message: str
    flags: int
    stream: int
    ts: int


def stored(store: Store) -> list[Stored]:
    """Every stored line, in id (time) order."""
    reader = store.reader()
    try:
        # Lines first: a source is committed with its first line, so every source
        # a line names is there by the time the sources are read afterwards.
        lines = reader.oldest("", 10**9)
        by_id: dict[int, Source] = {s.id: s for s in reader.sources()}
        return [
            Stored(by_id[ln.source_id].key, ln.message, ln.flags, ln.stream, ln.ts) for ln in lines
        ]
    finally:
        reader.close()


def stored_seqs(store: Store, key: SourceKey | None = None) -> list[int]:
    return [seq_of(s.message) for s in stored(store) if key is None or s.key == key]


def sources(store: Store) -> dict[SourceKey, Source]:
    reader = store.reader()
    try:
        return {s.key: s for s in reader.sources()}
    finally:
        reader.close()


def open_paths() -> list[str]:
    """What this process's file descriptors lead to (Linux)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass  # the descriptor listdir itself used
    return out


class Gate:
    """A sink in front of the writer that can be closed, to hold the collector up."""

    def __init__(self, writer: Writer) -> None:
        import threading

        self.writer = writer
        self.open = threading.Event()
        self.open.set()
        self.waiting = threading.Event()  # a submit is held at the closed gate

    def submit(self, batch: Batch) -> None:
        if not self.open.is_set():
            self.waiting.set()
        self.open.wait()
        self.writer.submit(batch)


class Run:
    """A FileCollector tailing log_dir into the store at db, as klogtui runs it."""

    def __init__(
        self,
        log_dir: Path,
        db: Path,
        tuning: Tuning = FAST,
        gate: bool = False,
        pods: PodMetaFeed | None = None,
        sink: Callable[[Writer], Sink] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.store = Store.open(db)
        checkpoints = self.store.load_checkpoints(CHECKPOINT_PREFIX)
        self.writer = self.store.start_writer()
        self.gate = Gate(self.writer) if gate else None
        self.stats = CollectorStats()
        self.collector = FileCollector(
            log_dir,
            self.gate or (sink(self.writer) if sink else self.writer),
            self.stats,
            checkpoints=checkpoints,
            node="node-1",
            tuning=tuning,
            pods=pods,
        )
        self.collector.start()

    def caught_up(self, timeout: float = 10.0) -> Run:
        wait_for(self.collector.caught_up, timeout, "caught up")
        assert self.collector.failure is None, self.collector.failure
        return self

    def stored(self) -> list[Stored]:
        """Every line committed so far, once all handed over is committed."""
        assert self.writer.flush(10)
        return stored(self.store)

    def physical_lines(self) -> int:
        """Physical lines committed so far (an event of n lines counts n). Counted in SQL:
        tests poll it, and reading every line back as a LogLine took most of their time."""
        conn = connect(self.store.path, create=False, readonly=True)
        try:
            # MATERIALIZED: each message decoded once, not once per use of t.
            (total,) = conn.execute(
                f"WITH texts(t) AS MATERIALIZED (SELECT {message_sql()} FROM lines l)"
                " SELECT total(length(t) - length(replace(t, char(10), '')) + 1) FROM texts"
            ).fetchone()
            return int(total)
        finally:
            conn.close()

    def count(self) -> int:
        """Lines committed so far."""
        reader = self.store.reader()
        try:
            return reader.stats().lines
        finally:
            reader.close()

    def seqs(self, key: SourceKey | None = None) -> list[int]:
        assert self.writer.flush(10)
        return stored_seqs(self.store, key)

    def wait_seqs(
        self, expected: list[int], key: SourceKey | None = None, timeout: float = 10
    ) -> None:
        """Wait until the stored lines are exactly `expected`, in that order; a moment
        later they must still be (a late duplicate fails the test)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.seqs(key)
            if len(got) >= len(expected) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert got == expected
        time.sleep(0.1)
        assert self.seqs(key) == expected

    def stop(self) -> None:
        self.collector.stop()
        self.collector.join(10)
        assert self.writer.flush(10)
        self.writer.close()
        assert self.collector.failure is None, self.collector.failure

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def docker_lines(seqs: Iterable[int]) -> bytes:
    """Docker json-file records "seq=N", one per sequence number, 1 ms apart."""
    return b"".join(
        json.dumps(
            {"log": f"seq={s}\n", "stream": "stdout", "time": ts_text(T0 + s * 1_000_000)}
        ).encode()
        + b"\n"
        for s in seqs
    )


def docker_log_behind_pod_link(
    tmp_path: Path, name: str, seqs: Iterable[int]
) -> tuple[Path, Container]:
    """Docker's json-file log tmp_path/docker/<name> holding `seqs`, and a container
    whose 0.log is a symlink to it, as dockershim lays them out."""
    real = tmp_path / "docker" / name
    real.parent.mkdir()
    real.write_bytes(docker_lines(seqs))
    c = Container(tmp_path / "logs")
    c.dir.mkdir(parents=True)
    c.path().symlink_to(real)
    return real, c


class Parts:
    """The file collector's identity and read parts wired as `FileCollector` wires them,
    without its thread or inotify: unit tests drive them on real files, step by step.

    Records and checkpoints land in `batch`; nothing is stored.
    """

    def __init__(self, checkpoints: dict[str, str] | None = None, since_ns: int = 0) -> None:
        self.stats = CollectorStats()
        self.batch = BatchBuilder(max_lines=10**9, max_delay_s=3600.0)
        self.tracked = Tracked()
        self.fds = Descriptors(self.stats, self.tracked, Watches(self.stats, self.tracked))
        self.sources = Sources("node-1", self.batch)
        self.identity = Identity(
            self.stats,
            self.tracked,
            self.fds,
            self.sources,
            self.batch,
            checkpoints or {},
            since_ns,
        )
        caught_up = threading.Event()
        caught_up.set()  # read in turns, as when following
        self.reader = FileReader(
            self.stats,
            self.tracked,
            self.fds,
            self.identity,
            self.batch,
            lambda: None,
            threading.Event(),
            caught_up,
            since_ns,
        )
        self._dirs: dict[str, ContainerDir] = {}

    def track(self, path: Path) -> LogFile:
        """Track the file at path (opened unless it is a .gz), as a scan would."""
        info = parse_pod_log_path(str(path))
        assert info is not None, path
        real = os.path.realpath(path.parent)
        d = self._dirs.setdefault(real, ContainerDir(str(path.parent), real))
        st = os.stat(path)
        f = LogFile((st.st_dev, st.st_ino), d, path.name, info)
        d.by_name[f.name] = f
        self.tracked.files[f.ident] = f
        if not f.compressed:
            assert self.fds.reopen(f)
        return f

    def read(self, f: LogFile) -> list[str]:
        """Read f as far as it goes; the messages that read added to the batch (with
        the events still open, as the collector stores them once it is caught up)."""
        before = len(self.batch.records)
        self.reader.read(f)
        self.reader.flush_groups()
        return [r.message for r in self.batch.records[before:]]

    def close(self) -> None:
        for f in list(self.tracked.files.values()):
            self.fds.close_fd(f)
