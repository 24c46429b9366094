"""The CLI surface: every command has --help, errors are one line, query output formats."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from klogtui.model import Batch, Flag, Level, Record, SourceInfo, Stream
from klogtui.store import Store
from tests.store_helpers import SEC, T0, key, rec, write


def klogtui(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


@pytest.mark.parametrize("command", [[], ["collect"], ["query"]])
def test_every_command_has_help(command: list[str]) -> None:
    out = klogtui(*command, "--help", check=True).stdout
    assert out.startswith("usage: klogtui")
    for option in {
        "": ["--kubeconfig", "--demo", "--log-dir", "--no-collect"],
        "collect": ["--once"],
        "query": ["--limit", "-o", "-f"],
    }["".join(command)]:
        assert option in out


def _help_on_a_terminal(columns: int) -> list[str]:
    """`klogtui query --help` printed on a pseudo-terminal `columns` wide."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "klogtui", "query", "--help"], stdout=slave, env=env
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    # The usage and the options, as argparse wraps them (descriptions and the epilog
    # keep their own line breaks).
    lines = out.decode().splitlines()
    lines = lines[: lines.index("commands:")]
    return [line for line in lines if line.startswith(("usage:", " "))]


def test_help_fits_the_terminal() -> None:
    narrow, wide = _help_on_a_terminal(60), _help_on_a_terminal(150)
    assert narrow[0].startswith("usage: klogtui query")
    assert max(map(len, narrow)) <= 60
    assert 80 < max(map(len, wide)) <= 150  # wider than a width it did not ask for
    assert len(wide) < len(narrow)


def test_version() -> None:
    assert klogtui("--version", check=True).stdout.startswith("klogtui ")


@pytest.fixture
def filled(store: Store) -> Path:
    web = key(ns="shop", pod="web-1", container="app")
    write(
        store,
        Batch(
            [rec(T0 + i * SEC, f"GET /{i}", web) for i in range(5)]
            + [
                rec(T0 + 10 * SEC, "payment timeout", web, stream=Stream.STDERR, level=Level.ERROR),
                rec(T0 + 11 * SEC, "\x1b[31mred[/] [bold]x", web),
            ],
            sources=[
                SourceInfo(
                    web,
                    labels={"app": "web"},
                    node="n1",
                    workload_kind="Deployment",
                    workload="web",
                )
            ],
        ),
    )
    return store.path


def test_query_jsonl_has_the_documented_fields(filled: Path) -> None:
    out = klogtui("query", "timeout", "--db", str(filled), "-o", "jsonl", check=True).stdout
    (obj,) = [json.loads(line) for line in out.splitlines()]
    assert obj["ts"] == "2026-11-18T11:06:50.000000000Z"
    assert {
        k: obj[k]
        for k in (
            "namespace",
            "pod",
            "container",
            "stream",
            "message",
            "restart",
            "labels",
            "level",
            "workload",
            "kind",
        )
    } == {
        "namespace": "shop",
        "pod": "web-1",
        "container": "app",
        "stream": "stderr",
        "message": "payment timeout",
        "restart": 0,
        "labels": {"app": "web"},
        "level": "error",
        "workload": "web",
        "kind": "Deployment",
    }


def test_query_limit_keeps_newest_oldest_first(filled: Path) -> None:
    out = klogtui("query", "GET", "--db", str(filled), "--limit", "2").stdout
    assert [line.split(" ", 2)[2] for line in out.splitlines()] == ["GET /3", "GET /4"]
    everything = klogtui("query", "--db", str(filled), "--limit", "0").stdout
    assert len(everything.splitlines()) == 7


def test_query_jsonl_names_levels_and_flags_as_the_query_language_does(
    store: Store,
) -> None:
    web = key()
    write(
        store,
        Batch(
            [
                rec(T0, "plain"),
                Record(T0 + SEC, web, Stream.NONE, "cut", Level.WARN, Flag.TRUNCATED),
                Record(
                    T0 + 2 * SEC, web, Stream.NONE, "bad", 0, Flag.MALFORMED | Flag.UNTERMINATED
                ),
            ]
        ),
    )
    out = klogtui("query", "--db", str(store.path), "-o", "jsonl", check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["level"], r.get("flags")) for r in rows] == [
        ("none", None),
        ("warn", ["truncated"]),
        ("none", ["malformed", "unterminated"]),
    ]
    # What jsonl says is what the query language finds.
    none = klogtui("query", "level=none", "--db", str(store.path), check=True).stdout
    assert [line.rsplit(" ", 1)[1] for line in none.splitlines()] == ["plain", "bad"]


@pytest.mark.parametrize("limit", ["-1", "-5", "--limit=-1", "x"])
def test_query_limit_that_is_not_a_count_is_a_usage_error(filled: Path, limit: str) -> None:
    args = [limit] if limit.startswith("--") else ["--limit", limit]
    result = klogtui("query", "--db", str(filled), *args)
    assert result.returncode == 2 and result.stdout == ""
    assert "argument --limit:" in result.stderr and "Traceback" not in result.stderr


def test_query_limit_beyond_any_store_prints_everything(filled: Path) -> None:
    result = klogtui("query", "--db", str(filled), "--limit", str(10**30))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stdout.splitlines()) == 7


def test_query_takes_a_leading_not_word_as_query_text(filled: Path) -> None:
    # `-GET` is the query language's NOT, not an option, wherever it stands.
    marked = "\x1b[31mred[/] [bold]x"
    result = klogtui("query", "-GET", "--db", str(filled))
    assert result.returncode == 0, result.stderr
    assert [line.split(" ", 2)[2] for line in result.stdout.splitlines()] == [
        "payment timeout",
        marked,
    ]
    result = klogtui("query", "--db", str(filled), "--limit", "1", "-bold", "-o", "jsonl")
    assert result.returncode == 0, result.stderr
    assert [json.loads(ln)["message"] for ln in result.stdout.splitlines()] == ["payment timeout"]
    # Several words are one query; -h stays help.
    result = klogtui("query", "ns=shop", "-GET", "-timeout", "--db", str(filled))
    assert [line.split(" ", 2)[2] for line in result.stdout.splitlines()] == [marked]
    assert klogtui("query", "-h", check=True).stdout.startswith("usage: klogtui query")


def test_query_error_points_at_the_column(filled: Path) -> None:
    result = klogtui("query", 'pod=web "unterminated', "--db", str(filled))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("klogtui: bad query")
    assert result.stderr.splitlines()[2].index("^") == 2 + len("pod=web ")


def test_color_output_makes_escapes_inert(filled: Path) -> None:
    out = klogtui("query", "bold", "--db", str(filled), "--color", "always").stdout
    assert "\\x1b[31mred[/] [bold]x" in out
    assert out.count("\x1b[") == out.count("\x1b[0m") * 2  # only our own colour codes


def test_missing_or_foreign_store_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not a database at all, just some text" * 20)
    result = klogtui("query", "--db", str(bad))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not a klogtui store" in result.stderr


def test_no_kubelet_logs_is_one_line_and_creates_no_store(tmp_path: Path) -> None:
    result = klogtui("collect", "--once", "--log-dir", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "--demo" in result.stderr
    assert "--kubeconfig" in result.stderr
    from klogtui.store import default_db_path

    assert not default_db_path("local").exists()


_NO_DAC = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
@pytest.mark.parametrize("where", ["--db in a read-only dir", "XDG dir not creatable"])
@pytest.mark.parametrize("command", [["collect", "--once"], []])
def test_a_store_that_cannot_be_created_is_one_line(
    tmp_path: Path, where: str, command: list[str]
) -> None:
    # chmod does not stop root; without CAP_DAC_OVERRIDE it does.
    logs = tmp_path / "logs" / "pods" / "shop_web-1_uid" / "app"
    logs.mkdir(parents=True)
    (logs / "0.log").write_text("2026-11-18T11:06:40.000000000Z stdout F hello\n")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    env = dict(os.environ)
    if where.startswith("--db"):
        db = locked / "s.db"
        extra = ["--db", str(db)]
    else:
        env["XDG_DATA_HOME"] = str(locked / "xdg")
        db = locked / "xdg" / "klogtui" / "local.db"
        extra = []
    argv = [*_NO_DAC, sys.executable, "-m", "klogtui", *command]
    argv += ["--log-dir", str(tmp_path / "logs"), *extra]
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 1
    assert result.stderr == f"klogtui: {db}: cannot create the store: Permission denied\n"


# Runs `klogtui collect` with Ctrl-C arriving at the worst moment of its waiting loop:
# inside the wait, while the main thread holds whatever lock that wait takes.
_CTRL_C_INSIDE_THE_WAIT = """
import signal, sys, threading, time
from klogtui.cli import main

def from_the_loop() -> bool:
    return sys._getframe(2).f_globals["__name__"] == "klogtui.collect.runner"

event_wait, sleep = threading.Event.wait, time.sleep

def wait(self, timeout=None):
    if from_the_loop():
        with self._cond:
            signal.raise_signal(signal.SIGINT)
    return event_wait(self, timeout)

def nap(seconds):
    if from_the_loop():
        signal.raise_signal(signal.SIGINT)
    sleep(seconds)

threading.Event.wait, time.sleep = wait, nap
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_collect_waits_stops_it(tmp_path: Path) -> None:
    """The collector's signal handler must take no lock: one that the main thread
    held when the signal came left `collect` running forever."""
    logs = tmp_path / "logs" / "pods" / "shop_web-1_uid" / "app"
    logs.mkdir(parents=True)
    (logs / "0.log").write_text("2026-11-18T11:06:40.000000000Z stdout F hello\n")
    argv = [sys.executable, "-c", _CTRL_C_INSIDE_THE_WAIT, "collect"]
    argv += ["--log-dir", str(tmp_path / "logs"), "--db", str(tmp_path / "s.db")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("collect was still running 60 s after Ctrl-C")
    assert (proc.returncode, err) == (0, "")


# How Python reports an exception it cannot raise (in a weakref callback, a __del__):
# the process goes on as if the Ctrl-C had not come.
_SWALLOWED = re.compile(r"^Exception ignored in: .*\n(?:[ T].*\n)*KeyboardInterrupt\b", re.M)


class _Stderr:
    """A child's stderr as it comes, read by a thread (the child may never end)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        self._pipe = proc.stderr
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self._pipe.fileno(), 65536):
            self._chunks.append(chunk)

    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def all(self) -> str:
        """Everything, once the child has ended."""
        self._reader.join(30)
        self._pipe.close()
        return self.text()


def _has_open(pid: int, path: Path) -> bool:
    """Whether process `pid` holds `path` open (klogtui opens its store after taking
    SIGINT over)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        links = [os.readlink(fd) for fd in fds.iterdir()]
    except OSError:  # it ended meanwhile
        return False
    return os.path.realpath(path) in links


@pytest.mark.slow
def test_ctrl_c_right_after_start_never_shows_our_traceback(tmp_path: Path) -> None:
    """SIGINT at 0-80 ms, while Python imports klogtui: exit quietly (130).

    Python's own start-up (site, before any klogtui code runs) can still print
    a KeyboardInterrupt; only tracebacks through klogtui's code count here.
    """
    logs = tmp_path / "logs" / "pods" / "shop_web-1_uid" / "app"
    logs.mkdir(parents=True)
    (logs / "0.log").write_text("2026-11-18T11:06:40.000000000Z stdout F hello\n")
    argv = [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(tmp_path / "logs")]
    db = tmp_path / "s.db"
    argv += ["--db", str(db)]
    seen: list[tuple[float, int | str]] = []
    # The Ctrl-C of a terminal, where klogtui starts with SIGINT at its default. A test
    # run started in the background by a non-interactive shell (`pytest &`) ignores
    # SIGINT, and children inherit that across exec: every Ctrl-C before klogtui takes
    # SIGINT over would be dropped, each costing the 3 s deadline below (33 s vs 2 s).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _start_and_interrupt_40_times(argv, db, seen)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [s for s in seen if s[1] not in (0, 130, -signal.SIGINT)] == []
    assert len(seen) >= 10  # most signals came after Python's start-up


def _start_and_interrupt_40_times(
    argv: list[str], db: Path, seen: list[tuple[float, int | str]]
) -> None:
    """Start `argv` and Ctrl-C it 0-80 ms later, 40 times; note in `seen` how each run
    ended, unless Python's start-up took the Ctrl-C (its own KeyboardInterrupt)."""
    ours = re.compile(r'File "[^"]*/klogtui/')
    for i in range(40):
        delay = (i % 20) * 0.004
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stderr = _Stderr(proc)
        time.sleep(delay)  # the scenario itself: a signal this soon after start
        proc.send_signal(signal.SIGINT)
        # Stopping takes well under a second (10 ms idle); a slower stop just meets the
        # second Ctrl-C below, which ends it as quietly (the collector's handler only
        # sets a flag, then __main__'s handler exits 130).
        # A Ctrl-C Python swallowed is as good as lost once klogtui has taken SIGINT
        # over (then a second one can no longer land in Python's start-up).
        deadline = time.monotonic() + 3
        while (
            proc.poll() is None
            and not (_SWALLOWED.search(stderr.text()) and _has_open(proc.pid, db))
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        if proc.poll() is None:
            # Still collecting: the first Ctrl-C was lost during Python's start-up, before
            # klogtui's handler (under load, 1-2 in 40: a KeyboardInterrupt only printed
            # from an importlib weakref callback, whereupon this goes on at once). A
            # second Ctrl-C, as a user would press, must then end it quietly.
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
            err = stderr.all()
            assert proc.returncode in (0, 130) and not ours.search(err), err
            continue
        err = stderr.all()
        if ours.search(err):
            seen.append((delay, f"our traceback: {err}"))
        elif "KeyboardInterrupt" not in err:  # not Python's own start-up either
            seen.append((delay, proc.returncode))
