"""The config file supplies option defaults; the command line wins; bad files are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from klogtui.config import config_path, load_defaults
from klogtui.errors import KlogError


def test_defaults_from_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('retain = "7d"\nmax_size = "2GB"\nmax_streams = 20\nlog_dir = "/x"\n')
    assert load_defaults(cfg) == {
        "retain": "7d",
        "max_size": "2GB",
        "max_streams": 20,
        "log_dir": Path("/x"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retain = 7", "retain must be a str"),
        ("colour = 'red'", "unknown setting 'colour'"),
        ("retain = ", "cannot read the configuration"),
    ],
)
def test_bad_config_is_reported(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(KlogError, match=message):
        load_defaults(cfg)


def test_missing_config_is_fine(tmp_path: Path) -> None:
    assert load_defaults(tmp_path / "nope.toml") == {}


def test_cli_reports_a_bad_config_in_one_line() -> None:
    path = config_path()  # under the test's isolated HOME
    path.parent.mkdir(parents=True)
    path.write_text("max_size = 5\n")
    result = subprocess.run(
        [sys.executable, "-m", "klogtui", "query", "x"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith("max_size must be a str, not 5")
    assert result.stderr.count("\n") == 1


def test_bad_max_size_flag_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "klogtui",
            "collect",
            "--once",
            "--max-size",
            "lots",
            "--log-dir",
            str(tmp_path),
            "--db",
            str(tmp_path / "s.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("klogtui: --max-size: not a size")
