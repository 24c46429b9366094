"""Shared fixtures: a fresh store file per test, and user config kept out of tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from klogtui.store import Store


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the real user's data dir or kubeconfig."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield Store.open(tmp_path / "store.db")
