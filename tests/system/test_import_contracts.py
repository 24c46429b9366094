"""The architecture's import contracts hold: `lint-imports` (import-linter) checks the
[tool.importlinter] contracts in pyproject.toml: the rooms are layered, only klogtui.ui
imports Textual, the leaves import nothing of ours, the query language stays pure."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The body of the `lint-imports` console script, run by this interpreter so the check
# needs no PATH and sees the checkout's own klogtui (the working directory comes first).
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def test_every_import_contract_is_kept() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    done = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert re.search(rf"Contracts: {len(contracts)} kept, 0 broken", report), report
