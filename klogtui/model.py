"""Value objects shared by the collectors, the store and the UI.

Nothing here imports anything of ours: sources build these, the writer stores them,
readers hand them back.

They are NamedTuples, not dataclasses: making sixteen dataclasses here and in the
store, and importing `dataclasses` (which imports `inspect`), took ~13 ms of the
~60 ms a `klogtui query` process lives. For the same reason the annotations are not
postponed (no `from __future__ import annotations`): a NamedTuple compiles each field's
annotation given as text (44 here, ~1 ms of each `klogtui query`), not one given as a type.
"""

from collections.abc import Mapping, Sequence
from enum import IntEnum, IntFlag
from types import MappingProxyType
from typing import NamedTuple, Protocol

__all__ = [
    "Batch",
    "Flag",
    "Level",
    "LogLine",
    "Record",
    "Sink",
    "Source",
    "SourceInfo",
    "SourceKey",
    "Stream",
]


class Stream(IntEnum):
    """Which output stream a line came from.

    NONE marks file lines we could not parse; COMBINED marks lines read through the
    Kubernetes API, which interleaves stdout and stderr without saying which is which.
    """

    NONE = 0
    STDOUT = 1
    STDERR = 2
    COMBINED = 3

    @property
    def label(self) -> str:
        return ("raw", "stdout", "stderr", "combined")[self]


class Level(IntEnum):
    """Severity found in a message; UNKNOWN when the message does not say."""

    UNKNOWN = 0
    TRACE = 1
    DEBUG = 2
    INFO = 3
    WARN = 4
    ERROR = 5
    FATAL = 6

    @property
    def label(self) -> str:
        return "" if self is Level.UNKNOWN else self.name.lower()


class Flag(IntFlag):
    """Facts about how a line was read, kept so nothing is silently altered."""

    NONE = 0
    MALFORMED = 1  # not a valid CRI/Docker line: stored raw, stamped with arrival time
    TRUNCATED = 2  # a reassembled line exceeded the size cap; the rest was cut
    UNTERMINATED = 4  # a partial line flushed after its grace period, never completed
    GAP = 8  # not a log line: lines of this source between two times may be missing
    CUT = 16  # an event cut at its line or size cap: it goes on in the next one
    CONTINUED = 32  # an event of continuation lines whose first line went before


class SourceKey(NamedTuple):
    """Identity of one container instance's log: survives pod deletion."""

    namespace: str
    pod: str
    container: str
    restart: int = 0
    pod_uid: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.pod}/{self.container}#{self.restart}"


class SourceInfo(NamedTuple):
    """Metadata about a source; fields left at None are not changed in the store."""

    key: SourceKey
    container_id: str | None = None
    node: str | None = None
    labels: dict[str, str] | None = None
    state: str | None = None  # running | waiting | terminated | deleted | completed
    reason: str | None = None  # e.g. CrashLoopBackOff, Completed, OOMKilled
    workload_kind: str | None = None  # the owning workload's kind: Deployment, Job, Pod, ...
    workload: str | None = None  # ... and its name (collect/kube/owners.py resolves them)


class Record(NamedTuple):
    """One log line as produced by a source, before it is stored.

    Attributes:
        ts: timestamp in UTC nanoseconds since the epoch.
        source: the container instance the line belongs to.
        stream: Stream value.
        message: the line's text without its line terminator.
        level: Level value, found by the producer (see formats.detect_level).
        flags: Flag bits.
        fields: a structured line's fields other than its message and level, as a
            JSON object's text (formats.fields); None when it has none.
    """

    ts: int
    source: SourceKey
    stream: int
    message: str
    level: int = 0
    flags: int = 0
    fields: str | None = None


class Batch(NamedTuple):
    """What a source hands the writer: stored in one transaction, all or nothing.

    checkpoints maps a source-defined key to a source-defined value (e.g. a file's
    identity to its offset); the writer stores them with the records so a crash
    rolls both back together. The defaults are immutable: a Batch is read, never
    added to.
    """

    records: Sequence[Record] = ()
    checkpoints: Mapping[str, str] = MappingProxyType({})
    sources: Sequence[SourceInfo] = ()
    deleted_checkpoints: Sequence[str] = ()


class Sink(Protocol):
    """Where sources send their batches (the store's writer, or a test list)."""

    def submit(self, batch: Batch) -> None: ...


class Source(NamedTuple):
    """A stored source row, as readers see it."""

    id: int
    key: SourceKey
    container_id: str
    node: str
    labels: dict[str, str]
    state: str
    reason: str
    first_ts: int
    last_ts: int
    lines: int
    workload_kind: str = ""  # "" until a collector with API access (or the demo) says
    workload: str = ""

    @property
    def namespace(self) -> str:
        return self.key.namespace

    @property
    def pod(self) -> str:
        return self.key.pod

    @property
    def container(self) -> str:
        return self.key.container


class LogLine(NamedTuple):
    """A stored line, as readers see it. `id` orders lines by time (keyset cursor)."""

    id: int
    ts: int
    source_id: int
    stream: int
    level: int
    flags: int
    message: str
    fields: str | None = None
