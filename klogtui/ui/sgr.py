"""A message's SGR sequences (colour, bold, underline) read as styles, headless.

Programs colour their logs with SGR escape sequences (``ESC [ 31 m``). `spans` cuts a
message into runs of text, each with the Rich style string (``"bold color(1)"``) the
sequences before it set; the SGR sequences themselves are taken out. Everything else
a terminal would obey (cursor moves, erasing, OSC titles and hyperlinks, a lone ESC)
is left in the text for the caller to show inert (klogtui.text.inert): log text never
moves the cursor, sets a title or becomes markup. No Rich or Textual here: the style
strings are plain text, made into styles by the caller.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["SgrState", "has_sgr", "spans"]

# CSI ... m in its 7-bit (ESC [) and 8-bit (0x9b) forms; parameters are digits split
# by ';' or ':' (the ITU form of 38:2:r:g:b). Other CSI finals are not SGR.
_SGR = re.compile("(?:\x1b\\[|\x9b)([0-9;:]*)m")

_ATTRIBUTES = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse", 9: "strike"}
# Codes that turn attributes off (22 ends both bold and dim).
_OFF = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 27: ("reverse",), 29: ("strike",)}


class SgrState(NamedTuple):
    """The attributes and colours in force (colours as Rich colour text, "" for none)."""

    attributes: frozenset[str] = frozenset()
    fg: str = ""
    bg: str = ""

    @property
    def style(self) -> str:
        """The state as a Rich style string ("" when nothing is set)."""
        parts = sorted(self.attributes)
        if self.fg:
            parts.append(self.fg)
        if self.bg:
            parts.append(f"on {self.bg}")
        return " ".join(parts)


def has_sgr(text: str) -> bool:
    """Whether `text` holds an SGR sequence (cheap when it holds no escape at all)."""
    if "\x1b" not in text and "\x9b" not in text:
        return False
    return _SGR.search(text) is not None


def spans(text: str, state: SgrState | None = None) -> tuple[list[tuple[str, str]], SgrState]:
    """`text` as (run, style) pairs without its SGR sequences, and the state at its end.

    Args:
        text: a message as written.
        state: the state the text starts in (the end state of the line before it, for
            an event of several lines); None: nothing set.
    """
    state = SgrState() if state is None else state
    runs: list[tuple[str, str]] = []
    pos = 0
    for m in _SGR.finditer(text):
        if m.start() > pos:
            runs.append((text[pos : m.start()], state.style))
        state = _apply(state, m.group(1))
        pos = m.end()
    if pos < len(text):
        runs.append((text[pos:], state.style))
    return runs, state


def _apply(state: SgrState, params: str) -> SgrState:
    codes = [int(p) if p.isdigit() else 0 for p in re.split("[;:]", params)] if params else [0]
    attributes, fg, bg = set(state.attributes), state.fg, state.bg
    i = 0
    while i < len(codes):
        code = codes[i]
        i += 1
        if code == 0:
            attributes, fg, bg = set(), "", ""
        elif code in _ATTRIBUTES:
            attributes.add(_ATTRIBUTES[code])
        elif code in _OFF:
            attributes.difference_update(_OFF[code])
        elif 30 <= code <= 37:
            fg = f"color({code - 30})"
        elif 90 <= code <= 97:
            fg = f"color({code - 90 + 8})"
        elif 40 <= code <= 47:
            bg = f"color({code - 40})"
        elif 100 <= code <= 107:
            bg = f"color({code - 100 + 8})"
        elif code == 39:
            fg = ""
        elif code == 49:
            bg = ""
        elif code in (38, 48):
            colour, i = _extended(codes, i)
            if colour is not None:
                if code == 38:
                    fg = colour
                else:
                    bg = colour
        # Anything else (blink, fonts, overline, …) is not shown.
    return SgrState(frozenset(attributes), fg, bg)


def _extended(codes: list[int], i: int) -> tuple[str | None, int]:
    """A 38/48 colour starting at codes[i] (5;n or 2;r;g;b) and the index after it."""
    if i < len(codes) and codes[i] == 5 and i + 1 < len(codes):
        n = codes[i + 1]
        return (f"color({n})" if n <= 255 else None), i + 2
    if i < len(codes) and codes[i] == 2 and i + 3 < len(codes):
        r, g, b = codes[i + 1 : i + 4]
        if max(r, g, b) <= 255:
            return f"#{r:02x}{g:02x}{b:02x}", i + 4
        return None, i + 4
    return None, len(codes)  # malformed: the rest of the sequence means nothing
