"""Structured lines read into fields (formats/fields.py) and terminal escapes taken out
of matched text (formats/ansi.py): the corpus, and bad input kept as written."""

from __future__ import annotations

import json
import time

import pytest

from klogtui.formats import detect_level
from klogtui.formats.ansi import strip_ansi
from klogtui.formats.fields import IN_MESSAGE, fields_of, parse, stored_fields
from klogtui.model import Level
from tests.corpus import SHAPES


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_corpus_lines_give_their_fields(name: str) -> None:
    for event in SHAPES[name]:
        level, fields = stored_fields(event.message, detect_level(event.lines[0]))
        assert fields_of(event.message, fields) == event.fields, event.lines[0]
        if len(event.lines) == 1:  # a trace's level is its grouper's (test_multiline)
            assert Level(level) == event.level


def test_the_message_and_level_fields_drive_display_and_level() -> None:
    got = parse('{"L":"WARN","M":"slow query","db.statement":"SELECT 1","größe":3}')
    assert got is not None
    assert (got.message, got.level) == ("slow query", Level.WARN)
    assert got.fields == {"db.statement": "SELECT 1", "größe": 3}


def test_logfmt_with_quotes_and_escapes() -> None:
    got = parse('level=warn msg="say \\"hi\\"" path=/a=b empty= user.id=7')
    assert got is not None
    assert (got.message, got.level) == ('say "hi"', Level.WARN)
    assert got.fields == {"path": "/a=b", "empty": "", "user.id": "7"}


@pytest.mark.parametrize(
    "text",
    [
        '{"level": "info", "msg": "cut',  # invalid JSON
        "[1, 2, 3]",  # JSON, not an object
        "{" * 100_000 + "}" * 100_000,  # too deep
        "GET /search?q=a b=c HTTP/1.1",  # text with "=" in it
        "x=1",  # a single pair is not enough to call it logfmt
        "retrying in 5s",
        "",
    ],
)
def test_lines_that_are_not_structured_have_no_fields(text: str) -> None:
    assert parse(text) is None
    level, stored = stored_fields(text, 0)
    assert level == 0 and fields_of(text, stored) is None


def test_a_1_mib_json_object_is_read_whole() -> None:
    big = "x" * (1 << 20)
    line = json.dumps({"level": "error", "msg": "dump", "blob": big})
    level, fields = stored_fields(line, detect_level(line))
    assert (level, fields) == (Level.ERROR, IN_MESSAGE)  # the message holds them: no copy
    assert fields_of(line, fields) == {"blob": big}


def test_a_json_event_keeps_its_fields_in_the_message_unless_it_cannot() -> None:
    line = '{"L":"ERROR","M":"x","status":503}'  # zap's development keys
    assert stored_fields(line, detect_level(line)) == (Level.ERROR, IN_MESSAGE)
    assert fields_of(line, IN_MESSAGE) == {"status": 503}
    assert fields_of('{"level":"error","msg":"x"}', IN_MESSAGE) is None  # no others
    # Coloured, or followed by a trace: the message is no JSON document, so they are copied.
    assert stored_fields("\x1b[1m" + line + "\x1b[0m", 0) == (Level.ERROR, '{"status":503}')
    assert stored_fields(line + "\n\tat a.B(B.java:1)", 0) == (Level.ERROR, '{"status":503}')


def test_only_the_first_line_of_an_event_gives_fields() -> None:
    event = 'level=error msg="request failed" status=500\n\tat a.B(B.java:1)'
    assert stored_fields(event, Level.ERROR) == (Level.ERROR, '{"status":"500"}')


def test_ansi_escapes_are_removed_for_matching_and_level() -> None:
    coloured = "\x1b[31mERROR\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 \x1b(B\x9b1mbold"
    assert strip_ansi(coloured) == "ERROR link bold"
    assert detect_level("\x1b[31mERROR\x1b[0m boom") == Level.ERROR
    assert detect_level("\x1b[33m[warn]\x1b[39m x") == Level.WARN
    plain = "no escapes here"
    assert strip_ansi(plain) is plain


def test_a_long_word_after_logfmt_pairs_is_read_in_linear_time() -> None:
    # Tried at every position of the word, a pair's key would scan to the word's end:
    # minutes for these 128 KiB, where one pass takes milliseconds.
    word = "x" * (1 << 17)
    started = time.perf_counter()
    assert parse("level=warn msg=slow " + word) is None  # free text after the pairs
    got = parse("level=warn msg=slow blob=" + word)
    assert time.perf_counter() - started < 5
    assert got is not None and got.fields == {"blob": word}
