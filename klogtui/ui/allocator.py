"""The explorer's malloc setting: memory one thread frees, the others can use again.

Following thousands of lines a second, the collector's batches, SQLite and zstd make
and free buffers all the time, on several threads (the writer, the file collector,
the UI's thread workers). glibc's malloc gives each thread that allocates an arena of
its own, up to 8 per core, and the space freed in one arena is kept for that arena:
the process's RSS climbed for minutes after start (bench/ui.py's follow row). One
arena keeps it in one heap, which every thread allocates from. Following 5,000
lines/s over the 5M store, it took the last quarter of a minute's RSS from ~118-123 MB
to ~102-103 MB, for ~2% more CPU, within the runs' spread (a fixed 128 KB mmap
threshold on top saved ~1 MB more for ~3-5%; two arenas left ~109 MB). Elsewhere
(musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["share_one_arena"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def share_one_arena() -> None:
    """Make every thread allocate from glibc's one main arena. Call it before any thread
    starts: an arena a thread already has stays its own."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # no C library to ask, or one without mallopt
    mallopt(_M_ARENA_MAX, 1)
