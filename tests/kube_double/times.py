"""Time as the API server writes it: Go's RFC3339Nano and whole-second timestamps."""

from __future__ import annotations

import re
import time
from datetime import datetime

__all__ = ["NS", "format_ts", "iso", "parse_ts"]

NS = 1_000_000_000

_HEADS: dict[int, str] = {}


def format_ts(ts_ns: int) -> str:
    """Go's RFC3339Nano: UTC, trailing zeros of the fraction trimmed."""
    sec, frac = divmod(ts_ns, NS)
    head = _HEADS.get(sec)
    if head is None:
        if len(_HEADS) > 4096:
            _HEADS.clear()
        head = _HEADS[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac:
        return f"{head}.{frac:09d}".rstrip("0") + "Z"
    return head + "Z"


def parse_ts(text: str) -> int:
    """RFC 3339 (any fraction, Z or offset) to UTC ns."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", text)
    if m is None:
        raise ValueError(text)
    base = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3]))
    return int(base.timestamp()) * NS + int((m[2] or "0").ljust(9, "0"))


def iso(ts_ns: int) -> str:
    """Whole-second RFC 3339, as in object metadata and container states."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ns // NS))
