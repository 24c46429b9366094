"""Container log file formats: CRI and Docker json-file lines, timestamps and levels,
reassembled into messages. A leaf: imports nothing of ours.

The package's public names are imported here; its modules are the implementation
(`decoder`, `line_formats`, `timestamps`, `levels`, `codes`).
"""

from klogtui.formats.decoder import LineDecoder, Parsed
from klogtui.formats.levels import detect_level
from klogtui.formats.timestamps import parse_timestamp

__all__ = ["LineDecoder", "Parsed", "detect_level", "parse_timestamp"]
