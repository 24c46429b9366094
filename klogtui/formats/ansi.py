"""Terminal escape sequences (colours, cursor moves) taken out of a message's text.

Stored messages keep them as written; the text index, level detection, matching and
line grouping see the text without them, so ``\\x1b[31mERROR\\x1b[0m`` is an error and
``ERROR`` finds it.
"""

from __future__ import annotations

import re

__all__ = ["strip_ansi"]

# CSI (ESC [ params final), OSC (ESC ] ... BEL or ESC \\), and two-byte ESC sequences;
# the 8-bit CSI (0x9b) too. A lone ESC at the end is dropped as well.
_ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b"
)


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (cheap when it holds none)."""
    if "\x1b" not in text and "\x9b" not in text:
        return text
    return _ANSI_RE.sub("", text)
