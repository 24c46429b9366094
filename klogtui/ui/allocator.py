"""The explorer's malloc settings: memory freed while following goes back to the system.

Following thousands of lines a second, the collector's batches, SQLite and zstd make
and free buffers of a few hundred KB all the time, on several threads. glibc's malloc
raises its mmap threshold to the largest such buffer freed (up to 32 MB), after which
they come from the heap, and gives each thread that allocates an arena of its own: the
freed space stays in those heaps, the process's RSS climbing for minutes after start
(bench/ui.py's follow row). A fixed threshold keeps big buffers in mmap (unmapped when
freed) and one arena keeps the small ones in one heap. Following 5,000 lines/s over
the 5M store, the one arena took the last quarter of a minute's RSS from ~118-123 MB to
~101-103 MB (the threshold alone: ~119-121 MB). Elsewhere (musl, macOS) nothing is
changed.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["give_back_freed_memory"]

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
_M_ARENA_MAX = -8
_MMAP_THRESHOLD = 128 * 1024  # glibc's starting value, kept from rising
_ARENAS = 1


def give_back_freed_memory() -> None:
    """Set glibc's malloc for a long-running, following process; call it before any
    thread starts (an arena a thread already has stays)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # no C library to ask, or one without mallopt
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_ARENA_MAX, _ARENAS)
