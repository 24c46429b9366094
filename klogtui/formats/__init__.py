"""Container log file formats: CRI and Docker json-file lines, timestamps and levels,
reassembled into messages. A leaf: imports nothing of ours.

The package's public names are imported on first use, so a reader that only needs
`formats.ansi` (`klogtui query`, through the store's text terms) does not pay for the
decoder, its levels and timestamps at start-up. Its modules are the implementation
(`decoder`, `line_formats`, `timestamps`, `levels`, `codes`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from klogtui.formats.decoder import LineDecoder, Parsed
    from klogtui.formats.levels import detect_level
    from klogtui.formats.timestamps import parse_timestamp

_HOMES = {
    "LineDecoder": "decoder",
    "Parsed": "decoder",
    "detect_level": "levels",
    "parse_timestamp": "timestamps",
}

__all__ = ["LineDecoder", "Parsed", "detect_level", "parse_timestamp"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'klogtui.formats' has no attribute {name!r}")
    return getattr(importlib.import_module(f"klogtui.formats.{home}"), name)
