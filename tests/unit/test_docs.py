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


def _layout_tree() -> set[str]:
    """The module paths ARCHITECTURE.md's Layout tree shows (indentation = nesting)."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths: set[str] = set()
    parents: list[str] = []
    for row in block.splitlines():
        name = row.strip().split(" ", 1)[0]
        if not name:
            continue
        depth = (len(row) - len(row.lstrip(" "))) // 2
        parents = parents[:depth]
        paths.add("/".join([*parents, name]).rstrip("/"))
        if name.endswith("/"):
            parents.append(name.rstrip("/"))
    return paths


def test_the_architecture_layout_shows_every_module_that_exists() -> None:
    package = ROOT / "klogtui"
    files = {
        str(p.relative_to(ROOT))
        for p in [*package.rglob("*.py"), *package.rglob("*.tcss")]
        if p.name != "__init__.py"
    }
    dirs = {str(p.parent.relative_to(ROOT)) for p in package.rglob("__init__.py")}
    assert _layout_tree() == files | dirs


def test_browsing_a_copied_store_is_documented() -> None:
    assert "--no-collect" in README
