"""argparse's side of klogtui's options: the values they take, and help laid out for the
terminal's width found without importing shutil.

argparse makes a formatter for every option added, and the first one asks shutil for the
width, which imports shutil (with bz2, lzma and zlib): ~2 ms of each `klogtui query`
process.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["HelpFormatter", "RawHelpFormatter", "limit", "seconds"]


def _columns() -> int:
    """The terminal's width, found as shutil.get_terminal_size() finds it."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, told the terminal's width rather than asking shutil for it."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)  # argparse's own margin


class RawHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The same, keeping the description's and epilog's own line breaks."""


def seconds(text: str) -> float:
    """A positive, finite number of seconds, for argparse."""
    try:
        if 0 < (value := float(text)) < float("inf"):
            return value
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")


def limit(text: str) -> int:
    """--limit N: 0 (everything) or a positive count; a count past any store means all."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (all) or a positive number, not {n}")
    return 0 if n > sys.maxsize else n  # SQLite counts in 64 bits
