"""The project type-checks: mypy, strict, over klogtui/ and tests/ (config in
pyproject.toml), as CI runs it; the errors are shown when it fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_no_type_errors() -> None:
    # The cache stays in the checkout (.mypy_cache, ignored by git): cold in CI (about
    # 10 s of CPU), well under a second on a developer's next run.
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout, done.stdout
