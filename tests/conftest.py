"""Shared fixtures: a fresh store file per test, user config kept out of tests, and the
local time zone set explicitly for tests that show or read local times."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from klogtui.store import Store
from tests.kube_double import FakeCluster, KubeDouble
from tests.kube_run import Run


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (pyproject's addopts): two workers per core, as most tests wait on real
    processes, files and sockets rather than compute (measured on 2 cores: 4 workers
    take two thirds of the time 2 do). PYTEST_XDIST_AUTO_NUM_WORKERS still decides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return 2 * len(os.sched_getaffinity(0))


def _isolate_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the real user's data dir or kubeconfig."""
    _isolate_home(monkeypatch, tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same for a module-scoped fixture (set up before any test's own): processes it
    starts, which a module's tests share, see a home of their own too."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate_home(monkeypatch, tmp_path_factory.mktemp("home"))
        yield


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield Store.open(tmp_path / "store.db")


def _local_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> Iterator[None]:
    # time.tzset() makes the process re-read TZ, both when set and after it is restored.
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local zone is UTC for the test."""
    yield from _local_zone(monkeypatch, "UTC")


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local zone is Europe/Berlin (CET in winter, CEST in summer) for the test."""
    yield from _local_zone(monkeypatch, "Europe/Berlin")


@pytest.fixture
def kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local zone is Asia/Kolkata (UTC+05:30, no summer time) for the test."""
    yield from _local_zone(monkeypatch, "Asia/Kolkata")


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 25 lines and a 75-line window, so a few hundred lines (or a few key
    presses) cross many window edges of the log pane."""
    monkeypatch.setattr("klogtui.ui.log_window.PAGE", 25)
    monkeypatch.setattr("klogtui.ui.log_window.MAX_WINDOW", 75)


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    """The API double on 127.0.0.1 with an empty cluster (a test module may override it)."""
    with KubeDouble(FakeCluster()) as d:
        yield d


@pytest.fixture
def run(double: KubeDouble, store: Store, tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Makes remote-mode Runs against the double into `store`; stops them after the test."""
    runs: list[Run] = []

    def make(**kw: Any) -> Run:
        r = Run(double, store, tmp_path, **kw)
        runs.append(r)
        return r

    yield make
    for r in runs:
        r.stop()
