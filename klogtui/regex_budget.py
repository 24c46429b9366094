"""Regex matching under a time budget, for the query language's `=~` and `!~`.

Python's `re` can take exponential time on a pattern such as `(a|a)+$` and holds the GIL
while it does, so one bad query froze every thread, the TUI's event loop included. The
`regex` module takes a timeout and, with concurrent=True, releases
the GIL while it matches: a bad pattern costs at most its budget and never stalls the
UI. Each distinct value is matched once per compiled query (names repeat across
containers and restarts).

`regex` is imported by the first pattern compiled, not with this module: it takes
~10 ms of CPU to import, a seventh of a `klogtui query` process, and most queries
have no regex.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex

__all__ = ["REGEX_BUDGET_S", "Budget", "BudgetExceeded", "compile_pattern", "searcher"]

# Regex time one compiled query may spend on source values; real queries take
# microseconds, so only a runaway pattern comes near it.
REGEX_BUDGET_S = 1.0


class BudgetExceeded(Exception):
    """The regex work of one query ran past its budget."""


class Budget:
    """Seconds of matching one query may spend, counted only while a match runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._left = seconds

    def run(self, match: Callable[[float], bool]) -> bool:
        """match(timeout) within what is left of the budget.

        Raises:
            BudgetExceeded: the budget was spent before or during this match.
        """
        if self._left <= 0:
            raise BudgetExceeded
        started = time.monotonic()
        try:
            return match(self._left)
        except TimeoutError:
            self._left = 0.0
            raise BudgetExceeded from None
        finally:
            self._left -= time.monotonic() - started


def compile_pattern(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    """A user's pattern, with Python `re` syntax (the regex module's VERSION0).

    Raises:
        regex.error, OverflowError, RecursionError, ValueError: the pattern is invalid.
    """
    import regex

    return regex.compile(pattern, regex.VERSION0 | (regex.IGNORECASE if ignore_case else 0))


def searcher(
    pattern: regex.Pattern[str], budget: Budget, full: bool = False
) -> Callable[[str], bool]:
    """A test "pattern is found in s" (the whole of s if full), each s matched once.

    Raises (from the test):
        BudgetExceeded: the budget is spent.
    """
    find = pattern.fullmatch if full else pattern.search
    memo: dict[str, bool] = {}

    def test(s: str) -> bool:
        hit = memo.get(s)
        if hit is None:
            hit = memo[s] = budget.run(
                lambda left: find(s, timeout=left, concurrent=True) is not None
            )
        return hit

    return test
