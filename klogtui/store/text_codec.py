"""Message text stored compressed: zstd with a dictionary trained on the store's own lines.

`lines.message` holds TEXT (a short line, a line stored before schema 6 or before the
store had a dictionary) or a BLOB: one byte naming the dictionary (`text_dicts.id`),
then a magicless zstd frame compressed with it. `lines.fields` (a JSON object's text)
is stored the same way since schema 7, with the messages' dictionaries until the
store has one trained on fields (written since schema 8). Log lines are short and
alike, so a dictionary trained on the store's own lines takes them to about a third.

The writer's `TextEncoder` trains a few dictionaries on samples of the lines as they
come (TRAININGS, FIELDS_TRAINING), stores each in the transaction of the first rows it
compresses, and compresses a transaction's messages in one C call. A kind's first
dictionary is trained in the transaction whose lines complete its sample (until then
lines are stored as text); a later one, which replaces a dictionary that works, on a
thread of its own while transactions go on with the one before.
Every connection (schema.connect) gets the SQL function `klogtui_text(message)`, which
gives the text back whatever the form; readers select `MESSAGE` and `FIELDS`, never
`l.message` or `l.fields`.
Dictionaries are never changed or deleted: a row names the one it was compressed with.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, cast

import zstandard

__all__ = [
    "DDL",
    "DECODE_FUNCTION",
    "FIELDS",
    "MESSAGE",
    "FIELDS_TRAINING",
    "TRAININGS",
    "TRAIN_LINES",
    "TextDecoder",
    "TextEncoder",
    "Training",
    "decoder",
    "is_dictionary",
    "message_sql",
    "register",
    "undecodable",
]

DECODE_FUNCTION = "klogtui_text"


def message_sql(column: str = "l.message") -> str:
    """SQL for a line's text from its stored message column. Text is not passed through
    the function: Python would convert it (failing on damaged UTF-8, which SQLite then
    reports as it always did) only to hand it back."""
    return f"CASE WHEN typeof({column}) = 'blob' THEN {DECODE_FUNCTION}({column}) ELSE {column} END"


# A line's text in SQL over alias `l`, as every reader selects and filters it.
MESSAGE = message_sql()
# A line's fields (NULL, "" for "in the message", or a JSON object's text), the same way.
FIELDS = message_sql("l.fields")
DDL = "CREATE TABLE IF NOT EXISTS text_dicts(id INTEGER PRIMARY KEY, data BLOB NOT NULL)"

_DICT_BYTES = 64 * 1024


# A NamedTuple, not a dataclass: `dataclasses` imports `inspect`, ~4 ms of every
# `klogtui query` process, which reads and never trains.
class Training(NamedTuple):
    """When a dictionary is trained: on `samples` lines, one in `stride` of the lines the
    store gets after the previous training (lines under _MIN_BYTES are not sampled)."""

    samples: int
    stride: int


# The message dictionaries a store trains, in order. The first comes early so that few
# lines are stored as TEXT, but with recent first the first lines are the newest of a
# few containers only (12 of 58 in the bench's 1M tree) and it compresses the others
# poorly; the second, sampled from the next ~60,000 lines, has seen many more, and the
# third, sampled from the ~200,000 after, more still. ~0.06 + 0.25 + 0.25 s of the writer.
# (Sampling the second from ~45,000 lines gave 51.0 MB in one arrival order of the 1M
# tree and 54.7 MB in another; from ~60,000, 51.5 and 51.8.)
TRAININGS = (Training(5_000, 1), Training(20_000, 3), Training(20_000, 10))
TRAIN_LINES = TRAININGS[0].samples  # lines sampled before the first dictionary
# Fields (JSON objects' text: keys and values, little prose) get a dictionary of their
# own, trained on the first ones: half the bytes they take with the messages' dictionary
# (8.4 -> 4.6 MB in the 1M tree). Until it is trained, they use the messages'.
FIELDS_TRAINING = Training(5_000, 1)
# zstd's id of a dictionary, in its header (frames do not carry it): what a store's
# dictionary was trained on. Message dictionaries of stores made before have random ids.
_MESSAGES_ZSTD_ID = 0x6B6C6F6D  # "klom"
_FIELDS_ZSTD_ID = 0x6B6C6F66  # "klof"
# Below this many bytes a line is stored as TEXT: the frame header and the dictionary
# byte would eat most of what compression saves, and reads skip the decompression.
_MIN_BYTES = 24
_MAX_DICT_ID = 255  # the one header byte
_LEVEL = 3
# No magic number, checksum or dictionary id in each frame (4-8 bytes a line): the
# header byte names the dictionary; SQLite's pages and the quick check guard the bytes.
_FORMAT = zstandard.FORMAT_ZSTD1_MAGICLESS
_DICT_MAGIC = bytes.fromhex("37a430ec")  # what a trained dictionary starts with


def undecodable(why: str) -> str:
    """What a reader shows for a line whose stored text cannot be decompressed: the line
    stays in its place, saying so, and the read goes on."""
    return f"[klogtui: this line's stored text cannot be read: {why}]"


class TextDecoder:
    """`klogtui_text(value)`: text as it is, a BLOB decompressed with the dictionary it
    names, each dictionary looked up once.

    Args:
        lookup: a dictionary's bytes by id (None: not in the store).
    """

    def __init__(self, lookup: Callable[[int], bytes | None]) -> None:
        self._lookup = lookup
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {}
        # The last value and its text: a field condition reads one row's message
        # several times over (json_type, json_extract, ...), each a call.
        self._last: tuple[bytes, str] = (b"", "")

    def __call__(self, value: str | bytes | int | float | None) -> str | int | float | None:
        if not isinstance(value, bytes):
            return value
        if value == self._last[0]:
            return self._last[1]
        try:
            text = self.text(value)
        except Exception as e:  # noqa: BLE001 - damaged bytes fail in many ways
            # Never raise: SQLite would end the whole read with a bare "user-defined
            # function raised exception" for one line.
            text = undecodable(str(e) or type(e).__name__)
        self._last = (value, text)
        return text

    def text(self, value: bytes) -> str:
        """The text of a compressed message.

        Raises:
            Exception: whatever damaged bytes make zstd, the lookup or UTF-8 raise.
        """
        if not value:
            raise ValueError("an empty compressed value")
        decompressor = self._decompressors.get(value[0]) or self._load(value[0])
        return decompressor.decompress(value[1:]).decode("utf-8", "replace")

    def _load(self, dict_id: int) -> zstandard.ZstdDecompressor:
        data = self._lookup(dict_id)
        if data is None:
            raise LookupError(f"its dictionary {dict_id} is not in the store")
        decompressor = zstandard.ZstdDecompressor(
            dict_data=zstandard.ZstdCompressionDict(data), format=_FORMAT
        )
        self._decompressors[dict_id] = decompressor
        return decompressor


def is_dictionary(data: bytes) -> bool:
    """Whether bytes are a dictionary as `text_dicts` stores them (zstd's magic)."""
    return data.startswith(_DICT_MAGIC)


def decoder(conn: sqlite3.Connection) -> TextDecoder:
    """A decoder reading dictionaries from the connection's store."""

    def lookup(dict_id: int) -> bytes | None:
        row = conn.execute("SELECT data FROM text_dicts WHERE id = ?", (dict_id,)).fetchone()
        return None if row is None else bytes(row[0])

    return TextDecoder(lookup)


def register(conn: sqlite3.Connection) -> None:
    """Give a connection `klogtui_text(message)`, reading dictionaries from its store."""
    conn.create_function(DECODE_FUNCTION, 1, decoder(conn), deterministic=True)


class TextEncoder:
    """The writer's side: messages and fields to what `lines` stores, on its connection.

    Each kind is compressed with its newest dictionary; dictionaries are trained as
    `trainings` (messages) and `fields_training` plan them.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        trainings: Sequence[Training] = TRAININGS,
        fields_training: Training = FIELDS_TRAINING,
    ) -> None:
        self._messages = _Kind(trainings, _MESSAGES_ZSTD_ID)
        self._fields = _Kind([fields_training], _FIELDS_ZSTD_ID)
        self.reload(conn)

    @property
    def training(self) -> bool:
        """Whether a dictionary is being trained on a thread now (the next transaction
        after it is ready stores it)."""
        return self._messages.training or self._fields.training

    def reload(self, conn: sqlite3.Connection) -> None:
        """Use the store's newest dictionaries (again after a rollback, which voids one
        trained and stored by the rolled-back transaction)."""
        dictionaries = [
            (dict_id, zstandard.ZstdCompressionDict(bytes(data)))
            for dict_id, data in conn.execute("SELECT id, data FROM text_dicts ORDER BY id")
        ]
        fields = [d[1].dict_id() == _FIELDS_ZSTD_ID for d in dictionaries]
        self._messages.load([d for d, f in zip(dictionaries, fields, strict=True) if not f])
        self._fields.load([d for d, f in zip(dictionaries, fields, strict=True) if f])

    def encode(self, conn: sqlite3.Connection, messages: Sequence[str]) -> list[str | bytearray]:
        """What to store for each message, inside the caller's transaction (which may
        store a newly trained dictionary): the text, or a bytearray (sqlite3 binds one
        as a BLOB without the adapter lookup that bytes cost, ~0.6 us a value)."""
        raw = [m.encode("utf-8", "surrogatepass") for m in messages]
        self._messages.sample(conn, raw)
        stored: list[str | bytearray] = list(messages)
        self._messages.compress(stored, raw)
        return stored

    def encode_fields(
        self, conn: sqlite3.Connection, fields: Sequence[str | None]
    ) -> list[str | bytearray | None]:
        """What to store for each line's fields, like `encode`."""
        stored: list[str | bytearray | None] = list(fields)
        raw = [b"" if f is None else f.encode("utf-8", "surrogatepass") for f in fields]
        self._fields.sample(conn, raw)
        kind = self._fields if self._fields.compressor is not None else self._messages
        kind.compress(stored, raw)
        return stored


class _Kind:
    """What one kind of text (messages, fields) is compressed with now, and the sample
    for its next dictionary."""

    def __init__(self, plan: Sequence[Training], zstd_id: int) -> None:
        self._plan = plan
        self._zstd_id = zstd_id
        self._dict_id = 0  # text_dicts.id of the dictionary in use
        self.compressor: zstandard.ZstdCompressor | None = None
        self._samples: list[bytes] | None = None  # None: no more training
        self._training = plan[0]
        self._seen = 0  # lines offered for sampling since the last training
        self._trained = 0  # dictionaries of this kind in the store
        self._trainer: _Trainer | None = None  # the next dictionary, being trained

    def load(self, dictionaries: list[tuple[int, zstandard.ZstdCompressionDict]]) -> None:
        """Use the newest of this kind's dictionaries (in id order) and sample for the
        next one the plan owes the store, if any."""
        if dictionaries:
            self._use(*dictionaries[-1])
        else:
            self._dict_id, self.compressor = 0, None
        self._trainer = None  # sampled anew: what it trains on may be rolled back
        self._plan_next(len(dictionaries))

    def _plan_next(self, trained: int) -> None:
        """Sample for the dictionary after `trained` of this kind, if the plan has one."""
        self._samples = [] if trained < len(self._plan) else None
        self._training = self._plan[min(trained, len(self._plan) - 1)]
        self._seen = 0
        self._trained = trained

    def _use(self, dict_id: int, dictionary: zstandard.ZstdCompressionDict) -> None:
        params = zstandard.ZstdCompressionParameters.from_level(
            _LEVEL, format=_FORMAT, write_checksum=0, write_dict_id=0, write_content_size=1
        )
        self._dict_id = dict_id
        self.compressor = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=params)

    def compress(self, stored: list[Any], raw: list[bytes]) -> None:
        """Replace stored[i] with raw[i] compressed, where that is shorter."""
        compressor = self.compressor
        if compressor is None:
            return
        picked = [i for i, data in enumerate(raw) if len(data) >= _MIN_BYTES]
        if not picked:
            return
        # One C call for the whole transaction (the GIL released while it works).
        frames = compressor.multi_compress_to_buffer([raw[i] for i in picked], threads=0)
        header = bytearray((self._dict_id,))
        # A segment is a buffer (the stubs do not say so): added to the header it is
        # copied once, into the bytearray that is stored.
        segments = cast(Iterable[bytes], iter(frames))
        for i, frame in zip(picked, segments, strict=True):
            if len(frame) + 1 < len(raw[i]):
                stored[i] = header + frame

    @property
    def training(self) -> bool:
        """Whether a dictionary of this kind is being trained on a thread now."""
        return self._trainer is not None and not self._trainer.done()

    def sample(self, conn: sqlite3.Connection, raw: list[bytes]) -> None:
        """Sample lines for the next dictionary; once there are enough, train it, store
        it and compress with it from now on: a first dictionary at once (these lines
        too), a later one on a thread, from the first transaction after it is ready."""
        trainer = self._trainer
        if trainer is not None:
            if not trainer.done():
                return
            self._trainer = None
            self._store(conn, trainer.dictionary)
        samples = self._samples
        if samples is None:
            return
        stride = self._training.stride
        first = -self._seen % stride  # the stride runs on across transactions
        self._seen += len(raw)
        room = self._training.samples - len(samples)
        samples.extend([data for data in raw[first::stride] if len(data) >= _MIN_BYTES][:room])
        if len(samples) < self._training.samples:
            return
        if self.compressor is None:
            # Until it is there lines are stored as text; on a small sample it is quick.
            self._store(conn, _train(samples, self._zstd_id))
        else:
            # A quarter of a second of CPU or more: on the writer's thread it held every
            # commit back that long, and the explorer's follow jumped past lines.
            self._trainer = _Trainer(samples, self._zstd_id)

    def _store(
        self, conn: sqlite3.Connection, dictionary: zstandard.ZstdCompressionDict | None
    ) -> None:
        """Store a trained dictionary and compress with it (None: the sample had too
        little variety to train on: sample the next lines instead)."""
        if dictionary is None:
            self._samples = []
            return
        dict_id = conn.execute(
            "INSERT INTO text_dicts(data) VALUES (?) RETURNING id", (dictionary.as_bytes(),)
        ).fetchone()[0]
        if dict_id > _MAX_DICT_ID:
            raise sqlite3.IntegrityError(f"text_dicts: id {dict_id} does not fit the header")
        self._use(dict_id, dictionary)
        self._plan_next(self._trained + 1)


class _Trainer:
    """One dictionary trained on a thread of its own (zstd lets the GIL go meanwhile)."""

    def __init__(self, samples: list[bytes], zstd_id: int) -> None:
        self.dictionary: zstandard.ZstdCompressionDict | None = None
        self._thread = threading.Thread(
            target=self._run, args=(samples, zstd_id), name="klogtui-dictionary", daemon=True
        )
        self._thread.start()

    def _run(self, samples: list[bytes], zstd_id: int) -> None:
        self.dictionary = _train(samples, zstd_id)

    def done(self) -> bool:
        """Whether the training ended (`dictionary` is then set, or None if it failed)."""
        return not self._thread.is_alive()


def _train(samples: list[bytes], zstd_id: int) -> zstandard.ZstdCompressionDict | None:
    """A dictionary trained on samples (shuffled in place); None: too little variety."""
    # zstd tries its parameters on the last quarter of the samples, trained on the
    # rest: in arrival order that quarter holds other containers' lines and the
    # parameters it picks fit neither (in the 1M tree, 77 MB of messages where the
    # same sample shuffled gives 51 MB). (`random` imported here: readers never train.)
    import random

    random.Random(0).shuffle(samples)
    try:
        return zstandard.train_dictionary(_DICT_BYTES, [*samples], dict_id=zstd_id)
    except zstandard.ZstdError:
        return None
