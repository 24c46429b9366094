"""Safety: logs carry secrets and hostile bytes. The store is private to the user,
`klogtui query` never lets log text drive the terminal, remote mode never writes to
the cluster.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from klogtui.model import Batch
from klogtui.store import Store
from tests.helpers_faults import collect_argv, committed_lines
from tests.helpers_files import Container, lines
from tests.kube_double import FakeCluster, KubeDouble
from tests.store_helpers import T0, rec, write
from tests.waiting import wait_for


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- a private store ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["--db", "default"])
def test_collect_creates_the_store_private_even_with_umask_0(tmp_path: Path, where: str) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(100)))
    env = dict(os.environ)
    if where == "--db":
        db = tmp_path / "new" / "stores" / "node.db"
        extra = ["--db", str(db)]
    else:
        env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
        db = tmp_path / "xdg" / "klogtui" / "local.db"
        extra = []
    proc = subprocess.Popen(
        [sys.executable, "-m", "klogtui", "collect", "--log-dir", str(c.log_dir), *extra],
        env=env,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.umask(0),  # the modes must not depend on the umask
    )
    try:
        wait_for(lambda: committed_lines(db) == 100, 20, "stored")
        files = {p.name: _mode(p) for p in db.parent.iterdir()}
        dir_mode = _mode(db.parent)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert dir_mode == 0o700
    # The WAL and shared-memory files hold log text too; the lock file names the pid.
    assert files == {
        db.name: 0o600,
        db.name + "-wal": 0o600,
        db.name + "-shm": 0o600,
        db.name + ".lock": 0o600,
    }


def test_store_in_an_existing_directory_is_still_private(tmp_path: Path) -> None:
    # An existing directory is the user's business (it may be their home): left as is.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)))
    done = subprocess.run(
        collect_argv(c.log_dir, shared / "s.db", "--once"),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0),
    )
    assert done.returncode == 0, done.stderr
    assert _mode(shared / "s.db") == 0o600 and _mode(shared) == 0o755


def _collect_once(
    log_dir: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", "collect", "--once", "--log-dir", str(log_dir), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0),
    )


def test_default_store_parents_are_created_private_under_umask_0(tmp_path: Path) -> None:
    # With no XDG_DATA_HOME the store goes to ~/.local/share/klogtui; a fresh home has
    # none of these and mkdir -p would leave the parents 0777.
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"} | {"HOME": str(home)}
    done = _collect_once(c.log_dir, env)
    assert done.returncode == 0, done.stderr
    made = [home / ".local", home / ".local/share", home / ".local/share/klogtui"]
    assert [oct(_mode(d)) for d in made] == [oct(0o700)] * 3
    assert committed_lines(home / ".local/share/klogtui/local.db") == 3


def test_an_open_data_directory_is_made_private_and_the_user_told(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)))
    data = tmp_path / "xdg" / "klogtui"
    data.mkdir(parents=True)
    data.chmod(0o777)
    env = dict(os.environ) | {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    done = _collect_once(c.log_dir, env)
    assert done.returncode == 0, done.stderr
    assert _mode(data) == 0o700
    assert done.stderr == (
        f"klogtui: {data} was open to other users (0777); made it private (0700)\n"
    )


def test_a_store_in_a_directory_others_can_write_is_warned_about(tmp_path: Path) -> None:
    c = Container(tmp_path / "logs")
    c.append(lines(range(3)))
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not ours to change: warn
    done = _collect_once(c.log_dir, dict(os.environ), "--db", str(shared / "s.db"))
    assert done.returncode == 0, done.stderr
    assert _mode(shared) == 0o777 and committed_lines(shared / "s.db") == 3
    assert done.stderr.startswith(f"klogtui: warning: {shared} is writable by other users (0777)")
    assert done.stderr.count("\n") == 1


# -- log text never drives the terminal ----------------------------------------------

HOSTILE = [
    "seq=0 \x1b[2J\x1b[H wiped the screen",
    "seq=1 \x1b]0;owned title\x07 set the title",
    "seq=2 \x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\ hyperlink",
    "seq=3 \x9b31m 8-bit CSI and \x9d0;osc\x9c",
    "seq=4 \x1bP+q544e\x1b\\ DCS query and \x1b[6n cursor report",
    "seq=5 back\rspace\b\b and DEL\x7f and BEL\x07",
    "seq=6 \x1b[31mred\x1b[0m",
]
# C1 controls as UTF-8 (U+0080..U+009F); terminals may act on them.
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_OWN_SGR = re.compile(rb"\x1b\[[0-9;]*m")  # klogtui's own colours


def _start_query_on_a_pty(
    db: Path, *args: str, no_color: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `klogtui query` with stdout and stderr on a pty; the process and the pty's
    master side, which the caller reads and closes."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no "\n" -> "\r\n": the bytes as written
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    if no_color:
        env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "klogtui", "query", "--db", str(db), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    return proc, master


def _query_on_a_terminal(db: Path, *args: str, no_color: bool) -> bytes:
    """Run `klogtui query` with stdout and stderr on a pty; the raw bytes it wrote."""
    proc, master = _start_query_on_a_pty(db, *args, no_color=no_color)
    out = b""
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        out += data
    os.close(master)
    assert proc.wait(30) == 0, out
    return out


@pytest.fixture
def hostile_store(tmp_path: Path) -> Path:
    store = Store.open(tmp_path / "hostile.db")
    write(store, Batch([rec(T0 + i, text) for i, text in enumerate(HOSTILE)]))
    return store.path


@pytest.mark.parametrize(
    ("args", "no_color"),
    [
        pytest.param((), False, id="auto-colour"),
        pytest.param(("--color", "always"), False, id="always"),
        pytest.param((), True, id="NO_COLOR"),
        pytest.param(("--color", "never"), False, id="never"),
        pytest.param(("-o", "jsonl"), False, id="jsonl"),
        pytest.param(("-f",), False, id="follow"),
    ],
)
def test_query_to_a_terminal_never_emits_control_sequences_from_logs(
    hostile_store: Path, args: tuple[str, ...], no_color: bool
) -> None:
    if "-f" in args:
        out = _follow_for_a_moment(hostile_store)
    else:
        out = _query_on_a_terminal(hostile_store, *args, no_color=no_color)
    assert out.count(b"\n") == len(HOSTILE)
    text = _OWN_SGR.sub(b"", out)
    assert b"\x1b" not in text and not _C1.search(text)
    # Every other control is shown as text: only tabs and line ends remain.
    assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", text)
    assert out.count(b"seq=") == len(HOSTILE)  # the lines are there, defused


def _follow_for_a_moment(db: Path) -> bytes:
    """`query -f` on a terminal: what it printed in its first second."""
    proc, master = _start_query_on_a_pty(db, "-f")
    out = b""
    deadline = time.monotonic() + 10
    try:
        while out.count(b"\n") < len(HOSTILE) and time.monotonic() < deadline:
            out += os.read(master, 1 << 16)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        os.close(master)
    return out


def test_query_to_a_pipe_is_the_raw_message(hostile_store: Path) -> None:
    # For `| grep` the bytes are what the container wrote (only a terminal is defended).
    done = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", "--db", str(hostile_store)],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0
    got = [ln.split(" ", 2)[2] for ln in done.stdout.decode().split("\n")[:-1]]
    assert got == HOSTILE


_TRACE_EVENT = "\n".join(
    [
        "\x1b[31mERROR\x1b[0m request failed \x1b[2J",
        "java.lang.IllegalStateException: no lines",
        "\tat com.example.App.total(App.java:88)",
        "Caused by: java.io.IOException: \x1b]0;title\x07reset",
    ]
)


@pytest.mark.parametrize("args", [(), ("--color", "never")], ids=["colour", "plain"])
def test_an_event_on_a_terminal_is_its_lines_each_inert(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    store = Store.open(tmp_path / "trace.db")
    write(store, Batch([rec(T0, _TRACE_EVENT), rec(T0 + 1, "seq=1 after")]))
    out = _OWN_SGR.sub(b"", _query_on_a_terminal(store.path, *args, no_color=False))
    assert b"\x1b" not in out and not _C1.search(out)
    got = out.decode().split("\n")[:-1]
    assert [ln.split(" ", 2)[2] for ln in (got[0], got[-1])] == [
        "\\x1b[31mERROR\\x1b[0m request failed \\x1b[2J",
        "seq=1 after",
    ]
    assert got[1:-1] == [
        "java.lang.IllegalStateException: no lines",
        "\tat com.example.App.total(App.java:88)",
        "Caused by: java.io.IOException: \\x1b]0;title\\x07reset",
    ]
    piped = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", "--db", str(store.path), *args],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert piped.stdout.decode().split("\n")[:-1][0].split(" ", 2)[2] == _TRACE_EVENT.split("\n")[0]
    assert _TRACE_EVENT in piped.stdout.decode()  # as written


# -- remote mode only reads ---------------------------------------------------------------

# What the minimal RBAC Role allows: list namespaces; get, list, watch pods; get pods/log.
_ALLOWED = re.compile(r"/api/v1/(namespaces|pods|namespaces/[^/]+/pods(/[^/]+/log)?)")


def test_remote_mode_only_ever_reads(tmp_path: Path) -> None:
    """`klogtui collect --kubeconfig` through pods starting, logging, restarting,
    finishing and being deleted, watches expiring and log streams breaking: every
    request it makes is a GET of pods, pod logs or namespaces."""
    with KubeDouble(FakeCluster(bookmark_interval_s=0.5)) as double:
        c = double.cluster
        c.add_pod("shop", "web-1", ["app", "proxy"], labels={"app": "web"})
        c.add_pod("jobs", "batch-1", ["main"])
        c.emit("shop", "web-1", "app", 20, "a")
        c.emit("jobs", "batch-1", "main", 5, "j")
        kubeconfig = double.kubeconfig(tmp_path / "kubeconfig")
        db = tmp_path / "kube.db"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "klogtui",
                "collect",
                "--kubeconfig",
                str(kubeconfig),
                "-A",
                "--db",
                str(db),
            ],
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: committed_lines(db) >= 25, 30, "first lines")
            c.restart("shop", "web-1", "app")
            c.emit("shop", "web-1", "app", 5, "a")
            c.finish("jobs", "batch-1", "main")
            c.add_pod("shop", "web-2")
            c.emit("shop", "web-2", "app", 5, "b")
            wait_for(lambda: committed_lines(db) >= 35, 30, "lines of the new pod")
            c.break_streams()
            c.expire_watches()
            c.emit("shop", "web-1", "proxy", 3, "p")
            c.delete_pod("shop", "web-2")
            c.end_watches()
            wait_for(lambda: committed_lines(db) >= 38, 30, "all lines")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        with c.cond:
            methods = list(c.methods)
    assert len(methods) > 10
    assert {m for m, _ in methods} == {"GET"}
    assert [p for _, p in methods if not _ALLOWED.fullmatch(p.split("?", 1)[0])] == []
