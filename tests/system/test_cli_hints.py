"""`klogtui query` hints on stderr: stdout and the exit status stay as without them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from klogtui.model import Batch, SourceInfo
from klogtui.store import Store
from tests.store_helpers import SEC, T0, key, rec, write


def query(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klogtui", "query", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def shop(store: Store) -> Path:
    pods = [key(ns="shop", pod=f"checkout-7d9f-{s}") for s in ("abc12", "def34", "ghi56")]
    write(
        store,
        Batch(
            [rec(T0 + i * SEC, f"order {i} placed", k) for i, k in enumerate(pods)]
            + [rec(T0 + 5 * SEC, "payment timeout", pods[0])],
            sources=[SourceInfo(k, labels={"app": "checkout"}) for k in pods],
        ),
    )
    return store.path


def test_a_prefix_name_gets_the_hint_on_stderr_and_nothing_on_stdout(shop: Path) -> None:
    got = query(shop, "pod=checkout")
    assert (got.returncode, got.stdout) == (0, "")
    assert got.stderr == "klogtui: hint: no pod `checkout`; 3 pods start with it: pod=checkout-*\n"
    fixed = query(shop, "pod=checkout-*", "-o", "jsonl")
    assert (fixed.returncode, fixed.stderr) == (0, "")
    assert len(fixed.stdout.splitlines()) == 4


def test_an_unknown_key_hint_leaves_the_lines_on_stdout_as_they_were(shop: Path) -> None:
    typed = "namepsace=shop OR timeout"
    got = query(shop, typed, "-o", "jsonl")
    assert got.returncode == 0
    assert got.stderr == "klogtui: hint: no label `namepsace`; did you mean namespace?\n"
    # What a pipe reads is the same as for the query without the slip.
    assert got.stdout == query(shop, "timeout", "-o", "jsonl").stdout
    assert [json.loads(line)["message"] for line in got.stdout.splitlines()] == ["payment timeout"]


def test_a_correct_query_prints_no_hint(shop: Path) -> None:
    got = query(shop, "app=checkout timeout")
    assert (got.returncode, got.stderr) == (0, "")
    assert got.stdout.rstrip().endswith("payment timeout")


def test_a_bad_query_is_still_an_error_not_a_hint(shop: Path) -> None:
    got = query(shop, "pod=~(")
    assert got.returncode != 0 and "hint" not in got.stderr
