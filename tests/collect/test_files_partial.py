"""Unfinished lines: unterminated writes, dangling CRI partials, and their checkpoints."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

from klogtui.model import Flag
from tests.helpers_files import FAST, Container, Run, cri, lines


def test_unterminated_line_waits_for_its_end(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    line = cri(5)
    c.append(lines(range(5)) + line[:30])
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        time.sleep(FAST.partial_grace_s + 0.5)  # a live file's half line is never cut
        assert run.seqs() == list(range(5))
        c.append(line[30:])
        run.wait_seqs(list(range(6)))
        assert [s.flags for s in run.stored()] == [0] * 6


def test_dangling_partial_is_stored_after_the_grace_period(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)) + cri(3, tag="P", text="seq=3 prompt> "))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert run.seqs() == [0, 1, 2]
        run.wait_seqs([0, 1, 2, 3])
        last = run.stored()[-1]
        assert (last.message, last.flags) == ("seq=3 prompt> ", Flag.UNTERMINATED)
        c.append(cri(4))
        run.wait_seqs([0, 1, 2, 3, 4])


def test_partial_fragments_survive_a_restart(tmp_path: Path) -> None:
    slow = dataclasses.replace(FAST, partial_grace_s=60)
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)) + cri(3, tag="P", text="seq=3 begins "))
    Run(c.log_dir, tmp_path / "db", slow).caught_up().stop()
    c.append(cri(4, tag="F", text="and ends"))
    with Run(c.log_dir, tmp_path / "db", slow).caught_up() as run:
        run.wait_seqs([0, 1, 2, 3])
        last = run.stored()[-1]
        assert (last.message, last.flags) == ("seq=3 begins and ends", 0)


def test_long_line_in_16k_fragments_is_one_line(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    text = "seq=1 " + "x" * 20_000
    c.append(cri(0) + cri(1, tag="P", text=text[:16384]) + cri(2, tag="F", text=text[16384:]))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        assert [s.message for s in run.stored()] == ["seq=0", text]


def test_unterminated_end_of_a_deleted_file_is_kept(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.append(cri(3, text="seq=3 cut short")[:-1])  # the writer died mid-line
        shutil.rmtree(c.pod_dir)
        run.wait_seqs([0, 1, 2, 3])
        last = run.stored()[-1]
        assert (last.message, last.flags) == ("seq=3 cut short", Flag.UNTERMINATED)


def test_unterminated_end_of_an_earlier_restart_is_kept(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)) + cri(3, text="seq=3 crashed")[:-1])
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        c.append(lines(range(10, 12)), restart=1)  # a newer instance: 0.log is finished
        run.wait_seqs([0, 1, 2, 3], c.key(0))
        run.wait_seqs([10, 11], c.key(1))


def test_malformed_lines_are_kept_raw_and_counted(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(cri(0) + b"garbage without a timestamp\n" + cri(1))
    with Run(c.log_dir, tmp_path / "db").caught_up() as run:
        got = [(s.message, s.flags) for s in run.stored()]
        assert sorted(got) == [
            ("garbage without a timestamp", Flag.MALFORMED),
            ("seq=0", 0),
            ("seq=1", 0),
        ]
        assert run.stats.snapshot().malformed == 1
