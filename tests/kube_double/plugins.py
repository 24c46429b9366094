"""Exec credential plugins for tests: a small python script and the files that steer it.

The script answers each run with what the test last put in its directory: a token
(with or without an expiry) or a client certificate, text to write to stderr, an exit
code. It logs every run: whether its stdin was /dev/null and what KUBERNETES_EXEC_INFO
said about interactivity.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["ExecPlugin"]

_SCRIPT = r"""
import json, os, sys
d = sys.argv[1]
info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
run = {
    "stdin_devnull": os.path.samestat(os.fstat(0), os.stat(os.devnull)),
    "interactive": info.get("spec", {}).get("interactive"),
}
with open(os.path.join(d, "runs.jsonl"), "a") as f:
    f.write(json.dumps(run) + "\n")
def read(name, default=""):
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except FileNotFoundError:
        return default
sys.stderr.write(read("stderr"))
sys.stderr.flush()
code = int(read("exit", "0"))
if code:
    sys.exit(code)
sys.stdout.write(read("response.json"))
"""

_API = "client.authentication.k8s.io/v1"


class ExecPlugin:
    """A plugin in `directory`; `user()` is its kubeconfig user entry.

    Args:
        directory: where the script and its files live (created).
        interactive_mode: the kubeconfig's interactiveMode (Never, IfAvailable, Always).
    """

    def __init__(self, directory: Path, interactive_mode: str = "IfAvailable") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.script = directory / "plugin.py"
        self.script.write_text(_SCRIPT)
        self.interactive_mode = interactive_mode

    def user(self) -> dict[str, Any]:
        return {
            "exec": {
                "apiVersion": _API,
                "command": sys.executable,
                "args": [str(self.script), str(self.directory)],
                "interactiveMode": self.interactive_mode,
            }
        }

    def _answer(self, status: dict[str, Any]) -> None:
        body = {"apiVersion": _API, "kind": "ExecCredential", "status": status}
        (self.directory / "response.json").write_text(json.dumps(body))

    def give_token(self, token: str, expiry: str | None = None) -> None:
        """Answer with this token (and expirationTimestamp, RFC 3339, if given)."""
        self._answer({"token": token} | ({"expirationTimestamp": expiry} if expiry else {}))

    def give_cert(self, cert_pem: str, key_pem: str) -> None:
        self._answer({"clientCertificateData": cert_pem, "clientKeyData": key_pem})

    def say(self, stderr: str, exit_code: int = 0) -> None:
        """Write this to stderr on each run, and exit with this code."""
        (self.directory / "stderr").write_text(stderr)
        (self.directory / "exit").write_text(str(exit_code))

    def runs(self) -> list[dict[str, Any]]:
        """One entry per run: stdin_devnull, interactive."""
        path = self.directory / "runs.jsonl"
        text = path.read_text() if path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]
