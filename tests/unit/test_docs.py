"""What a new user reads: the README's set-up and the files it points at."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_set_up_names_what_a_fresh_machine_needs() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert "Python ≥ 3.11" in setup
    assert "python3-venv" in setup


def test_every_document_the_readme_names_is_in_the_repository() -> None:
    named = set(re.findall(r"`([\w./-]+\.md)`", README))
    assert "ARCHITECTURE.md" in named
    for name in named:
        assert (ROOT / name).resolve().is_relative_to(ROOT), f"{name} is outside the project"
        assert (ROOT / name).is_file(), f"README names {name}, which a fresh clone lacks"


def test_the_architecture_names_every_package_that_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for package in sorted(p.parent.name for p in (ROOT / "klogtui").glob("*/__init__.py")):
        assert f"klogtui/{package}/" in text, f"ARCHITECTURE.md does not describe {package}/"


def test_browsing_a_copied_store_is_documented() -> None:
    assert "--no-collect" in README
