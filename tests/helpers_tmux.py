"""A real terminal for UI tests: a command in a detached tmux session on a server of its own.

Each Terminal starts its own tmux server (a unique socket name, no user config), so
tests never see another session and the server's environment is the test's (the
isolated HOME and data dir). The pane stays after the command exits, so its output
and the terminal modes it left behind can still be read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["TMUX", "Terminal", "needs_tmux"]

TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


def _env() -> dict[str, str]:
    """The test's environment, less COLUMNS/LINES: set under pytest, they would make the
    program in the pane take the terminal for 80x24 whatever its size."""
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


class Terminal:
    """`command` (a /bin/sh command line) running in a tmux pane of `size` columns x rows.

    Args:
        command: what the pane runs.
        size: the terminal's columns and rows.
        workdir: where the tmux config file goes.
    """

    def __init__(self, command: str, size: tuple[int, int], workdir: Path) -> None:
        assert TMUX is not None
        self.tmux_path = TMUX
        self.socket = f"klogtui-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        width, height = size
        config = workdir / f"{self.socket}.conf"
        config.write_text(
            "set -g remain-on-exit on\n"
            "set -g default-shell /bin/sh\n"
            # No client is ever attached: without this the window may fall back to 80x24.
            f"set -g default-size {width}x{height}\n"
        )
        self.tmux(
            "-f", str(config), "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
            command,
        )  # fmt: skip

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux_path, "-L", self.socket, *args],
            env=_env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return done.stdout

    def capture(self) -> str:
        """The pane's text, wrapped lines joined."""
        return self.tmux("capture-pane", "-p", "-J", "-t", "t")

    def display(self, fmt: str) -> str:
        """A tmux format about the pane, e.g. '#{alternate_on}'."""
        return self.tmux("display-message", "-p", "-t", "t", fmt).strip()

    def send_keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def paste(self, text: str) -> None:
        """Paste `text` as a terminal without bracketed paste does: the bytes, at once."""
        self.tmux("set-buffer", "-b", "paste", text)
        self.tmux("paste-buffer", "-d", "-b", "paste", "-t", "t")

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def wait_for(self, cond: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        """Poll the pane until cond(its text) holds; return that text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.capture()
            if cond(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{text}")
            time.sleep(0.05)

    def children(self) -> list[int]:
        """The pids of the pane shell's children (the command it started)."""
        pid = self.display("#{pane_pid}")
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(p) for p in text.split()]

    def close(self) -> None:
        """End the server and its pane; remove its socket (kill-server leaves it behind)."""
        try:
            socket_path = self.display("#{socket_path}")
        except subprocess.CalledProcessError:
            socket_path = ""  # the server is gone already
        subprocess.run(
            [self.tmux_path, "-L", self.socket, "kill-server"], capture_output=True, timeout=30
        )
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
