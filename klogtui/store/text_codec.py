"""Message text stored compressed: zstd with a dictionary trained on the store's own lines.

`lines.message` holds TEXT (a short line, a line stored before schema 6 or before the
store had a dictionary) or a BLOB: one byte naming the dictionary (`text_dicts.id`),
then a magicless zstd frame compressed with it. `lines.fields` (a JSON object's text)
is stored the same way since schema 7, with the same dictionaries. Log lines are short
and alike, so a dictionary trained on the first lines a store sees takes them to about
a third.

The writer's `TextEncoder` trains a dictionary on the first lines, a second on a wider
sample of the lines after, stores each in the transaction of the first rows it
compresses, and compresses a transaction's messages in one C call.
Every connection (schema.connect) gets the SQL function `klogtui_text(message)`, which
gives the text back whatever the form; readers select `MESSAGE` and `FIELDS`, never
`l.message` or `l.fields`.
Dictionaries are never changed or deleted: a row names the one it was compressed with.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import zstandard

__all__ = [
    "DDL",
    "DECODE_FUNCTION",
    "FIELDS",
    "MESSAGE",
    "RETRAIN_STRIDE",
    "TRAININGS",
    "TextDecoder",
    "TextEncoder",
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

# Lines sampled before the first dictionary is trained (about 0.25 s of the writer's
# time for 20,000 lines and a 64 KiB dictionary); until then lines are stored as TEXT.
TRAIN_LINES = 20_000
_DICT_BYTES = 64 * 1024
# Dictionaries a store trains (the first on its first lines, then one on a wider
# sample), and the stride of that wider sample: one line in 10 of the next 200,000.
TRAININGS = 2
RETRAIN_STRIDE = 10
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
    """The writer's side: messages to what `lines.message` stores, on its connection.

    The first dictionary is trained on the first lines the store gets, which may come
    from a few containers only; a second one, trained on one line in RETRAIN_STRIDE of
    the lines after, then takes over (stores of many containers: -20% bytes).

    Args:
        train_lines: lines sampled for each dictionary.
    """

    def __init__(self, conn: sqlite3.Connection, train_lines: int = TRAIN_LINES) -> None:
        self._train_lines = train_lines
        self._samples: list[bytes] | None = []  # None: no more training
        self._stride = 1  # sample one line in this many
        self._seen = 0  # lines offered for sampling since the last training
        self._dict_id = 0
        self._compressor: zstandard.ZstdCompressor | None = None
        self.reload(conn)

    def reload(self, conn: sqlite3.Connection) -> None:
        """Use the store's newest dictionary (again after a rollback, which voids one
        trained and stored by the rolled-back transaction)."""
        self._plan_training(conn)
        row = conn.execute("SELECT id, data FROM text_dicts ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            self._dict_id, self._compressor = 0, None
        else:
            self._use(row[0], zstandard.ZstdCompressionDict(row[1]))

    def _use(self, dict_id: int, dictionary: zstandard.ZstdCompressionDict) -> None:
        params = zstandard.ZstdCompressionParameters.from_level(
            _LEVEL, format=_FORMAT, write_checksum=0, write_dict_id=0, write_content_size=1
        )
        self._dict_id = dict_id
        self._compressor = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=params)

    def encode(self, conn: sqlite3.Connection, messages: list[str]) -> list[str | bytes]:
        """What to store for each message, inside the caller's transaction (which may
        store a newly trained dictionary)."""
        raw = [m.encode("utf-8", "surrogatepass") for m in messages]
        if self._samples is not None:
            self._sample(self._samples, raw)
            if len(self._samples) >= self._train_lines:
                self._train(conn, self._samples)
        stored: list[str | bytes] = list(messages)
        self._compress(stored, raw)
        return stored

    def encode_fields(self, fields: list[str | None]) -> list[str | bytes | None]:
        """What to store for each line's fields, with the dictionary the messages use
        now (fields are not sampled: a dictionary is trained on messages, which hold
        the same keys and values)."""
        stored: list[str | bytes | None] = list(fields)
        raw = [b"" if f is None else f.encode("utf-8", "surrogatepass") for f in fields]
        self._compress(stored, raw)
        return stored

    def _compress(self, stored: list[Any], raw: list[bytes]) -> None:
        """Replace stored[i] with raw[i] compressed, where that is shorter."""
        compressor = self._compressor
        if compressor is None:
            return
        picked = [i for i, data in enumerate(raw) if len(data) >= _MIN_BYTES]
        if not picked:
            return
        # One C call for the whole transaction (the GIL released while it works).
        frames = compressor.multi_compress_to_buffer([raw[i] for i in picked], threads=0)
        header = bytes((self._dict_id,))
        for k, i in enumerate(picked):
            frame = frames[k]
            if len(frame) + 1 < len(raw[i]):
                stored[i] = header + frame.tobytes()

    def _sample(self, samples: list[bytes], raw: list[bytes]) -> None:
        first = -self._seen % self._stride  # the stride runs on across transactions
        self._seen += len(raw)
        room = self._train_lines - len(samples)
        samples.extend(
            [data for data in raw[first :: self._stride] if len(data) >= _MIN_BYTES][:room]
        )

    def _train(self, conn: sqlite3.Connection, samples: list[bytes]) -> None:
        """Train a dictionary on the samples, store it and compress with it from now on."""
        try:
            dictionary = zstandard.train_dictionary(_DICT_BYTES, [*samples])
        except zstandard.ZstdError:
            # Too little variety to train on: sample the next lines instead.
            samples.clear()
            return
        dict_id = conn.execute(
            "INSERT INTO text_dicts(data) VALUES (?) RETURNING id", (dictionary.as_bytes(),)
        ).fetchone()[0]
        if dict_id > _MAX_DICT_ID:
            raise sqlite3.IntegrityError(f"text_dicts: id {dict_id} does not fit the header")
        self._use(dict_id, dictionary)
        self._plan_training(conn)

    def _plan_training(self, conn: sqlite3.Connection) -> None:
        """Sample for the next dictionary the store is owed, if any: the first on every
        line, the next on one in RETRAIN_STRIDE."""
        trained = conn.execute("SELECT count(*) FROM text_dicts").fetchone()[0]
        self._samples = [] if trained < TRAININGS else None
        self._stride = 1 if trained == 0 else RETRAIN_STRIDE
        self._seen = 0
