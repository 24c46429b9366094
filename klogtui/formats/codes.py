"""The stream, level and flag values the formats produce, as plain ints.

They equal `klogtui.model.Stream`, `Level` and `Flag` (the formats import nothing of
ours, so they cannot use those; a test keeps them equal).
"""

__all__ = [
    "CONTINUED",
    "CUT",
    "DEBUG",
    "ERROR",
    "FATAL",
    "INFO",
    "MALFORMED",
    "STDERR",
    "STDOUT",
    "TRACE",
    "TRUNCATED",
    "UNTERMINATED",
    "WARN",
]

# Equal to klogtui.model.Stream / Level / Flag.
STDOUT = 1
STDERR = 2
TRACE, DEBUG, INFO, WARN, ERROR, FATAL = 1, 2, 3, 4, 5, 6
MALFORMED = 1
TRUNCATED = 2
UNTERMINATED = 4
CUT = 16  # an event cut at its line or size cap (formats/multiline.py)
CONTINUED = 32  # an event whose first line went before
